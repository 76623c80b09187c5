package plantsim

import (
	"bytes"
	"encoding/binary"
	"math"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"

	"github.com/icsrange/icsrange/plant-sim/opcua"
)

// uaContinuation is the rest of a browse result a client may fetch with
// BrowseNext.
type uaContinuation struct {
	id   []byte
	refs []*ua.ReferenceDescription
	max  int
}

// uaMaxContinuations bounds a session's open browse continuations.
const uaMaxContinuations = 4

// tooMany answers a request with no operations, or too many.
func tooMany(h uint32, n int) ua.Response {
	st := ua.StatusBadTooManyOperations
	if n == 0 {
		st = ua.StatusBadNothingToDo
	}
	return &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(h, st, time.Now())}
}

func (c *uaConn) browse(sess *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.BrowseRequest)
	h := req.RequestHeader.RequestHandle
	if n := len(req.NodesToBrowse); n == 0 || n > uaMaxOperations {
		return tooMany(h, n)
	}
	if req.View != nil && req.View.ViewID != nil && !(req.View.ViewID.Namespace() == 0 && req.View.ViewID.IntID() == 0) {
		return &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(h, ua.StatusBadViewIDUnknown, time.Now())}
	}
	res := make([]*ua.BrowseResult, len(req.NodesToBrowse))
	for i, bd := range req.NodesToBrowse {
		res[i] = c.browseOne(sess, bd, int(req.RequestedMaxReferencesPerNode))
	}
	return &ua.BrowseResponse{ResponseHeader: opcua.ResponseHeader(h, ua.StatusOK, time.Now()), Results: res,
		DiagnosticInfos: []*ua.DiagnosticInfo{}}
}

func (c *uaConn) browseOne(sess *uaSession, bd *ua.BrowseDescription, max int) *ua.BrowseResult {
	sp := c.s.space
	n := sp.lookup(bd.NodeID)
	c.item(n, bd.NodeID, false, 0, ua.StatusOK)
	switch {
	case n == nil:
		return &ua.BrowseResult{StatusCode: ua.StatusBadNodeIDUnknown}
	case bd.BrowseDirection > ua.BrowseDirectionBoth:
		return &ua.BrowseResult{StatusCode: ua.StatusBadBrowseDirectionInvalid}
	}
	want, ok := sp.refTypeOf(bd.ReferenceTypeID)
	if !ok {
		return &ua.BrowseResult{StatusCode: ua.StatusBadReferenceTypeIDInvalid}
	}
	var refs []*ua.ReferenceDescription
	for _, r := range n.refs {
		switch {
		case bd.BrowseDirection == ua.BrowseDirectionForward && !r.forward,
			bd.BrowseDirection == ua.BrowseDirectionInverse && r.forward,
			want != 0 && !sp.isSubtype(r.typ, want, bd.IncludeSubtypes),
			bd.NodeClassMask != 0 && bd.NodeClassMask&uint32(r.target.class) == 0:
			continue
		}
		refs = append(refs, describe(r, bd.ResultMask))
	}
	if n.typeDef != 0 && (bd.BrowseDirection != ua.BrowseDirectionInverse) && (want == 0 || sp.isSubtype(id.HasTypeDefinition, want, bd.IncludeSubtypes)) {
		td := sp.node0(n.typeDef)
		if bd.NodeClassMask == 0 || bd.NodeClassMask&uint32(td.class) != 0 {
			refs = append([]*ua.ReferenceDescription{describe(uaRef{typ: id.HasTypeDefinition, target: td, forward: true}, bd.ResultMask)}, refs...)
		}
	}
	return c.page(sess, refs, max)
}

// page returns up to max references and keeps the rest behind a
// continuation point.
func (c *uaConn) page(sess *uaSession, refs []*ua.ReferenceDescription, max int) *ua.BrowseResult {
	res := &ua.BrowseResult{StatusCode: ua.StatusOK, References: refs}
	if max <= 0 || len(refs) <= max {
		if res.References == nil {
			res.References = []*ua.ReferenceDescription{}
		}
		return res
	}
	if len(sess.cps) >= uaMaxContinuations {
		return &ua.BrowseResult{StatusCode: ua.StatusBadNoContinuationPoints}
	}
	sess.nextCP++
	cp := binary.LittleEndian.AppendUint32(randomBytes(12), sess.nextCP)
	sess.cps = append(sess.cps, uaContinuation{id: cp, refs: refs[max:], max: max})
	res.References, res.ContinuationPoint = refs[:max], cp
	return res
}

// describe is a reference as Browse returns it, with the fields the
// result mask asks for.
func describe(r uaRef, mask uint32) *ua.ReferenceDescription {
	t := r.target
	d := &ua.ReferenceDescription{ReferenceTypeID: ua.NewTwoByteNodeID(0), NodeID: ua.NewExpandedNodeID(t.id, "", 0),
		BrowseName: &ua.QualifiedName{}, DisplayName: &ua.LocalizedText{}, TypeDefinition: ua.NewTwoByteExpandedNodeID(0)}
	if mask == 0 {
		mask = 0x3F
	}
	if mask&0x01 != 0 {
		d.ReferenceTypeID = ua.NewNumericNodeID(0, r.typ)
	}
	if mask&0x02 != 0 {
		d.IsForward = r.forward
	}
	if mask&0x04 != 0 {
		d.NodeClass = t.class
	}
	if mask&0x08 != 0 {
		d.BrowseName = t.browse
	}
	if mask&0x10 != 0 {
		d.DisplayName = t.display
	}
	if mask&0x20 != 0 && t.typeDef != 0 {
		d.TypeDefinition = ua.NewNumericExpandedNodeID(0, t.typeDef)
	}
	return d
}

func (c *uaConn) browseNext(sess *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.BrowseNextRequest)
	h := req.RequestHeader.RequestHandle
	if n := len(req.ContinuationPoints); n == 0 || n > uaMaxContinuations {
		return tooMany(h, n)
	}
	res := make([]*ua.BrowseResult, len(req.ContinuationPoints))
	for i, cp := range req.ContinuationPoints {
		k := -1
		for j := range sess.cps {
			if bytes.Equal(sess.cps[j].id, cp) {
				k = j
			}
		}
		if k < 0 {
			res[i] = &ua.BrowseResult{StatusCode: ua.StatusBadContinuationPointInvalid}
			continue
		}
		cont := sess.cps[k]
		sess.cps = append(sess.cps[:k], sess.cps[k+1:]...)
		if req.ReleaseContinuationPoints {
			res[i] = &ua.BrowseResult{StatusCode: ua.StatusOK, References: []*ua.ReferenceDescription{}}
			continue
		}
		res[i] = c.page(sess, cont.refs, cont.max)
	}
	return &ua.BrowseNextResponse{ResponseHeader: opcua.ResponseHeader(h, ua.StatusOK, time.Now()), Results: res,
		DiagnosticInfos: []*ua.DiagnosticInfo{}}
}

func (c *uaConn) translate(sess *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.TranslateBrowsePathsToNodeIDsRequest)
	h := req.RequestHeader.RequestHandle
	if n := len(req.BrowsePaths); n == 0 || n > uaMaxOperations {
		return tooMany(h, n)
	}
	sp := c.s.space
	res := make([]*ua.BrowsePathResult, len(req.BrowsePaths))
	for i, bp := range req.BrowsePaths {
		res[i] = &ua.BrowsePathResult{Targets: []*ua.BrowsePathTarget{}}
		n := sp.lookup(bp.StartingNode)
		if n == nil {
			res[i].StatusCode = ua.StatusBadNodeIDUnknown
			continue
		}
		if bp.RelativePath == nil || len(bp.RelativePath.Elements) == 0 {
			res[i].StatusCode = ua.StatusBadNothingToDo
			continue
		}
		for _, el := range bp.RelativePath.Elements {
			if el.TargetName == nil || el.TargetName.Name == "" {
				res[i].StatusCode, n = ua.StatusBadBrowseNameInvalid, nil
				break
			}
			want, ok := sp.refTypeOf(el.ReferenceTypeID)
			if !ok {
				res[i].StatusCode, n = ua.StatusBadReferenceTypeIDInvalid, nil
				break
			}
			var found *uaNode
			for _, ref := range n.refs {
				if ref.forward != el.IsInverse && (want == 0 || sp.isSubtype(ref.typ, want, el.IncludeSubtypes)) &&
					*ref.target.browse == *el.TargetName {
					found = ref.target
					break
				}
			}
			if n = found; n == nil {
				res[i].StatusCode = ua.StatusBadNoMatch
				break
			}
		}
		if n != nil {
			res[i].Targets = append(res[i].Targets, &ua.BrowsePathTarget{TargetID: ua.NewExpandedNodeID(n.id, "", 0),
				RemainingPathIndex: math.MaxUint32})
			c.item(n, nil, false, 0, ua.StatusOK)
		}
	}
	return &ua.TranslateBrowsePathsToNodeIDsResponse{ResponseHeader: opcua.ResponseHeader(h, ua.StatusOK, time.Now()),
		Results: res, DiagnosticInfos: []*ua.DiagnosticInfo{}}
}

func (c *uaConn) registerNodes(sess *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.RegisterNodesRequest)
	h := req.RequestHeader.RequestHandle
	if n := len(req.NodesToRegister); n == 0 || n > uaMaxOperations {
		return tooMany(h, n)
	}
	// Node ids are already as quick to use as any alias would be.
	return &ua.RegisterNodesResponse{ResponseHeader: opcua.ResponseHeader(h, ua.StatusOK, time.Now()), RegisteredNodeIDs: req.NodesToRegister}
}

func (c *uaConn) unregisterNodes(sess *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.UnregisterNodesRequest)
	return &ua.UnregisterNodesResponse{ResponseHeader: opcua.ResponseHeader(req.RequestHeader.RequestHandle, ua.StatusOK, time.Now())}
}

func (c *uaConn) read(sess *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.ReadRequest)
	h := req.RequestHeader.RequestHandle
	switch n := len(req.NodesToRead); {
	case n == 0 || n > uaMaxOperations:
		return tooMany(h, n)
	case req.MaxAge < 0 || math.IsNaN(req.MaxAge):
		return &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(h, ua.StatusBadMaxAgeInvalid, time.Now())}
	case req.TimestampsToReturn > ua.TimestampsToReturnNeither:
		return &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(h, ua.StatusBadTimestampsToReturnInvalid, time.Now())}
	}
	sp, p := c.s.space, c.p
	now := time.Now().UTC()
	res := make([]*ua.DataValue, len(req.NodesToRead))
	p.mu.Lock()
	for i, rv := range req.NodesToRead {
		n := sp.lookup(rv.NodeID)
		dv := &ua.DataValue{EncodingMask: ua.DataValueStatusCode}
		res[i] = dv
		var v any
		switch {
		case n == nil:
			dv.Status = ua.StatusBadNodeIDUnknown
		case rv.IndexRange != "":
			dv.Status = ua.StatusBadIndexRangeInvalid // every value is a scalar but the namespace arrays
		case rv.DataEncoding != nil && rv.DataEncoding.Name != "":
			dv.Status = ua.StatusBadDataEncodingInvalid
		default:
			v, dv.Status = sp.attribute(n, rv.AttributeID, &sess.who, p)
		}
		if dv.Status == ua.StatusOK {
			dv.EncodingMask |= ua.DataValueValue
			dv.Value = ua.MustVariant(v)
			stamp(dv, req.TimestampsToReturn, now, rv.AttributeID == ua.AttributeIDValue)
		}
		val := 0.0
		if rv.AttributeID == ua.AttributeIDValue {
			val = numeric(v)
			if math.IsNaN(val) {
				val = 0
			}
		}
		c.item(n, rv.NodeID, false, val, dv.Status)
	}
	p.mu.Unlock()
	return &ua.ReadResponse{ResponseHeader: opcua.ResponseHeader(h, ua.StatusOK, time.Now()), Results: res,
		DiagnosticInfos: []*ua.DiagnosticInfo{}}
}

// writeNodes serves Write: the Value of a tag's variable, where the
// AccessLevel allows it (coils and holding registers) and the session's
// identity may, through the same path as a Modbus write.
func (c *uaConn) writeNodes(sess *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.WriteRequest)
	h := req.RequestHeader.RequestHandle
	if n := len(req.NodesToWrite); n == 0 || n > uaMaxOperations {
		return tooMany(h, n)
	}
	sp, p := c.s.space, c.p
	res := make([]ua.StatusCode, len(req.NodesToWrite))
	p.mu.Lock()
	for i, wv := range req.NodesToWrite {
		n := sp.lookup(wv.NodeID)
		var v float64
		var st ua.StatusCode
		switch {
		case n == nil:
			st = ua.StatusBadNodeIDUnknown
		case wv.AttributeID != ua.AttributeIDValue || !n.writable:
			st = ua.StatusBadNotWritable
		case sp.accessLevel(n, &sess.who, p)&uaCurrentWrite == 0:
			st = ua.StatusBadUserAccessDenied
		case wv.IndexRange != "":
			st = ua.StatusBadWriteNotSupported
		default:
			v, st = writeValue(n, wv.Value)
		}
		if st == ua.StatusOK {
			p.netWrite(n.tag, v)
		}
		res[i] = st
		c.item(n, wv.NodeID, st == ua.StatusOK, v, st)
	}
	p.mu.Unlock()
	for i, st := range res {
		if st != ua.StatusOK {
			c.p.audit(c.clock, "exception", c.c.source, "OPC UA write of "+nodeText(req.NodesToWrite[i].NodeID)+" by "+sess.who.String()+
				" from "+c.c.source+" refused: "+st.Error())
		}
	}
	return &ua.WriteResponse{ResponseHeader: opcua.ResponseHeader(h, ua.StatusOK, time.Now()), Results: res,
		DiagnosticInfos: []*ua.DiagnosticInfo{}}
}

func nodeText(n *ua.NodeID) string {
	if n == nil {
		return "no node"
	}
	return n.String()
}

// writeValue checks a written value against the variable's data type:
// Boolean for bits, Float for analog values (finite).
func writeValue(n *uaNode, dv *ua.DataValue) (float64, ua.StatusCode) {
	if dv == nil || dv.Value == nil {
		return 0, ua.StatusBadTypeMismatch
	}
	switch x := dv.Value.Value().(type) {
	case bool:
		if n.dataType == id.Boolean {
			return b2f(x), ua.StatusOK
		}
	case float32:
		if n.dataType == id.Float {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return 0, ua.StatusBadOutOfRange
			}
			return float64(x), ua.StatusOK
		}
	}
	return 0, ua.StatusBadTypeMismatch
}
