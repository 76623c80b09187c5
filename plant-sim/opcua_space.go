package plantsim

import (
	"fmt"
	"math"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
)

// uaNode is one node of a PLC's OPC UA address space. The space is built
// once per server and never changes; only variable values do.
type uaNode struct {
	id       *ua.NodeID
	key      string // id.String(), the lookup key
	class    ua.NodeClass
	browse   *ua.QualifiedName
	display  *ua.LocalizedText
	desc     *ua.LocalizedText
	typeDef  uint32 // HasTypeDefinition target in namespace 0, 0 for none
	refs     []uaRef
	abstract bool

	// Variables and variable types.
	dataType  uint32
	valueRank int32
	tag       int        // tag index, or -1
	diag      int        // diagnostic register (relative to DiagBase), or -1
	value     func() any // a value computed on read (server status, properties)
	writable  bool

	// Reference types.
	symmetric bool
	inverse   string
}

type uaRef struct {
	typ     uint32 // reference type, namespace 0
	target  *uaNode
	forward bool
}

// The namespace-0 nodes a client needs to find its way: the standard
// folders, the Server object with its namespace array and status, and the
// types and reference types our nodes point at (OPC UA Part 5).
var uaStandard = []struct {
	id, parent, ref, typeDef uint32
	class                    ua.NodeClass
	name                     string
	abstract                 bool
	inverse                  string
}{
	{id.RootFolder, 0, 0, id.FolderType, ua.NodeClassObject, "Root", false, ""},
	{id.ObjectsFolder, id.RootFolder, id.Organizes, id.FolderType, ua.NodeClassObject, "Objects", false, ""},
	{id.TypesFolder, id.RootFolder, id.Organizes, id.FolderType, ua.NodeClassObject, "Types", false, ""},
	{id.ViewsFolder, id.RootFolder, id.Organizes, id.FolderType, ua.NodeClassObject, "Views", false, ""},
	{id.ObjectTypesFolder, id.TypesFolder, id.Organizes, id.FolderType, ua.NodeClassObject, "ObjectTypes", false, ""},
	{id.VariableTypesFolder, id.TypesFolder, id.Organizes, id.FolderType, ua.NodeClassObject, "VariableTypes", false, ""},
	{id.DataTypesFolder, id.TypesFolder, id.Organizes, id.FolderType, ua.NodeClassObject, "DataTypes", false, ""},
	{id.ReferenceTypesFolder, id.TypesFolder, id.Organizes, id.FolderType, ua.NodeClassObject, "ReferenceTypes", false, ""},
	{id.Server, id.ObjectsFolder, id.Organizes, id.ServerType, ua.NodeClassObject, "Server", false, ""},

	{id.References, id.ReferenceTypesFolder, id.Organizes, 0, ua.NodeClassReferenceType, "References", true, ""},
	{id.HierarchicalReferences, id.References, id.HasSubtype, 0, ua.NodeClassReferenceType, "HierarchicalReferences", true, ""},
	{id.NonHierarchicalReferences, id.References, id.HasSubtype, 0, ua.NodeClassReferenceType, "NonHierarchicalReferences", true, ""},
	{id.HasChild, id.HierarchicalReferences, id.HasSubtype, 0, ua.NodeClassReferenceType, "HasChild", true, ""},
	{id.Organizes, id.HierarchicalReferences, id.HasSubtype, 0, ua.NodeClassReferenceType, "Organizes", false, "OrganizedBy"},
	{id.Aggregates, id.HasChild, id.HasSubtype, 0, ua.NodeClassReferenceType, "Aggregates", true, "AggregatedBy"},
	{id.HasSubtype, id.HasChild, id.HasSubtype, 0, ua.NodeClassReferenceType, "HasSubtype", false, "SubtypeOf"},
	{id.HasComponent, id.Aggregates, id.HasSubtype, 0, ua.NodeClassReferenceType, "HasComponent", false, "ComponentOf"},
	{id.HasProperty, id.Aggregates, id.HasSubtype, 0, ua.NodeClassReferenceType, "HasProperty", false, "PropertyOf"},
	{id.HasTypeDefinition, id.NonHierarchicalReferences, id.HasSubtype, 0, ua.NodeClassReferenceType, "HasTypeDefinition", false, "TypeDefinitionOf"},

	{id.BaseObjectType, id.ObjectTypesFolder, id.Organizes, 0, ua.NodeClassObjectType, "BaseObjectType", false, ""},
	{id.FolderType, id.BaseObjectType, id.HasSubtype, 0, ua.NodeClassObjectType, "FolderType", false, ""},
	{id.ServerType, id.BaseObjectType, id.HasSubtype, 0, ua.NodeClassObjectType, "ServerType", false, ""},
	{id.BaseVariableType, id.VariableTypesFolder, id.Organizes, 0, ua.NodeClassVariableType, "BaseVariableType", true, ""},
	{id.BaseDataVariableType, id.BaseVariableType, id.HasSubtype, 0, ua.NodeClassVariableType, "BaseDataVariableType", false, ""},
	{id.PropertyType, id.BaseVariableType, id.HasSubtype, 0, ua.NodeClassVariableType, "PropertyType", false, ""},
	{id.DataItemType, id.BaseDataVariableType, id.HasSubtype, 0, ua.NodeClassVariableType, "DataItemType", false, ""},
	{id.AnalogItemType, id.DataItemType, id.HasSubtype, 0, ua.NodeClassVariableType, "AnalogItemType", false, ""},
	{id.ServerStatusType, id.BaseDataVariableType, id.HasSubtype, 0, ua.NodeClassVariableType, "ServerStatusType", false, ""},

	{id.BaseDataType, id.DataTypesFolder, id.Organizes, 0, ua.NodeClassDataType, "BaseDataType", true, ""},
	{id.Boolean, id.BaseDataType, id.HasSubtype, 0, ua.NodeClassDataType, "Boolean", false, ""},
	{id.Number, id.BaseDataType, id.HasSubtype, 0, ua.NodeClassDataType, "Number", true, ""},
	{id.Float, id.Number, id.HasSubtype, 0, ua.NodeClassDataType, "Float", false, ""},
	{id.Double, id.Number, id.HasSubtype, 0, ua.NodeClassDataType, "Double", false, ""},
	{id.UInteger, id.Number, id.HasSubtype, 0, ua.NodeClassDataType, "UInteger", true, ""},
	{id.UInt16, id.UInteger, id.HasSubtype, 0, ua.NodeClassDataType, "UInt16", false, ""},
	{id.UInt32, id.UInteger, id.HasSubtype, 0, ua.NodeClassDataType, "UInt32", false, ""},
	{id.String, id.BaseDataType, id.HasSubtype, 0, ua.NodeClassDataType, "String", false, ""},
	{id.DateTime, id.BaseDataType, id.HasSubtype, 0, ua.NodeClassDataType, "DateTime", false, ""},
	{id.LocalizedText, id.BaseDataType, id.HasSubtype, 0, ua.NodeClassDataType, "LocalizedText", false, ""},
	{id.Structure, id.BaseDataType, id.HasSubtype, 0, ua.NodeClassDataType, "Structure", true, ""},
	{id.Range, id.Structure, id.HasSubtype, 0, ua.NodeClassDataType, "Range", false, ""},
	{id.EUInformation, id.Structure, id.HasSubtype, 0, ua.NodeClassDataType, "EUInformation", false, ""},
	{id.ServerStatusDataType, id.Structure, id.HasSubtype, 0, ua.NodeClassDataType, "ServerStatusDataType", false, ""},
	{id.Enumeration, id.BaseDataType, id.HasSubtype, 0, ua.NodeClassDataType, "Enumeration", true, ""},
	{id.ServerState, id.Enumeration, id.HasSubtype, 0, ua.NodeClassDataType, "ServerState", false, ""},
}

// uaUnits are the UNECE Recommendation 20 codes of the units our models
// use, as OPC UA's EUInformation carries them (Part 8, 5.6.3).
var uaUnits = map[string]struct{ code, desc string }{
	"m": {"MTR", "metre"}, "m3/h": {"MQH", "cubic metre per hour"}, "%": {"P1", "percent"},
	"kPa": {"KPA", "kilopascal"}, "A": {"AMP", "ampere"}, "kV": {"KVT", "kilovolt"},
	"MW": {"MAW", "megawatt"}, "s": {"SEC", "second"}, "kmol/h": {"K58", "kilomole per hour"},
	"mm": {"MMT", "millimetre"}, "kg/s": {"KGS", "kilogram per second"}, "degC": {"CEL", "degree Celsius"},
	"kW": {"KWT", "kilowatt"}, "h": {"HUR", "hour"}, "pH": {"Q30", "pH (potential of Hydrogen)"},
	// A litre is a cubic decimetre; the OPC Foundation's table of the codes
	// (UNECE_to_OPCUA.csv) has no litre per hour of its own, nor a part
	// per million, so ppm goes without one.
	"L/h": {"E92", "cubic decimetre per hour"},
}

// uaUnitsURI is the namespace of UNECE unit ids.
const uaUnitsURI = "http://www.opcfoundation.org/UA/units/un/cefact"

// euInformation is a unit as OPC UA describes it; a unit without a UNECE
// code gets UnitId -1.
func euInformation(unit string) *ua.EUInformation {
	eu := &ua.EUInformation{NamespaceURI: uaUnitsURI, UnitID: -1,
		DisplayName: &ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: unit},
		Description: &ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: unit}}
	if u, ok := uaUnits[unit]; ok {
		var code int32
		for _, c := range []byte(u.code) {
			code = code<<8 | int32(c)
		}
		eu.UnitID, eu.Description.Text = code, u.desc
	}
	return eu
}

// uaSpace is a PLC's address space: the standard nodes and
// Objects/<plc id>/<tag>, by node id.
type uaSpace struct {
	nodes map[string]*uaNode
	plc   *uaNode
	tags  []*uaNode // by tag index
}

func text(s string) *ua.LocalizedText {
	return &ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: s}
}

func (sp *uaSpace) add(n *uaNode) *uaNode {
	n.key = n.id.String()
	if n.display == nil {
		n.display = text(n.browse.Name)
	}
	if n.desc == nil {
		n.desc = &ua.LocalizedText{}
	}
	sp.nodes[n.key] = n
	return n
}

// link adds a reference and its inverse.
func link(from *uaNode, typ uint32, to *uaNode) {
	from.refs = append(from.refs, uaRef{typ: typ, target: to, forward: true})
	to.refs = append(to.refs, uaRef{typ: typ, target: from})
}

// newUASpace builds the address space of PLC p with application URI
// appURI; status returns the server status for its Server node.
func newUASpace(p *PLC, appURI string, status func() *ua.ServerStatusDataType) *uaSpace {
	sp := &uaSpace{nodes: map[string]*uaNode{}}
	for _, s := range uaStandard {
		n := sp.add(&uaNode{id: ua.NewNumericNodeID(0, s.id), class: s.class, browse: &ua.QualifiedName{Name: s.name},
			typeDef: s.typeDef, abstract: s.abstract, inverse: s.inverse, symmetric: s.id == id.References, tag: -1, diag: -1})
		if s.parent != 0 {
			link(sp.nodes[ua.NewNumericNodeID(0, s.parent).String()], s.ref, n)
		}
	}
	server := sp.node0(id.Server)
	variable := func(nid *ua.NodeID, name string, ns uint16, dt uint32, rank int32, typeDef uint32, v func() any) *uaNode {
		return sp.add(&uaNode{id: nid, class: ua.NodeClassVariable, browse: &ua.QualifiedName{NamespaceIndex: ns, Name: name},
			typeDef: typeDef, dataType: dt, valueRank: rank, value: v, tag: -1, diag: -1})
	}
	nsArray := []string{"http://opcfoundation.org/UA/", appURI}
	link(server, id.HasProperty, variable(ua.NewNumericNodeID(0, id.Server_ServerArray), "ServerArray", 0, id.String, 1, id.PropertyType,
		func() any { return []string{appURI} }))
	link(server, id.HasProperty, variable(ua.NewNumericNodeID(0, id.Server_NamespaceArray), "NamespaceArray", 0, id.String, 1, id.PropertyType,
		func() any { return nsArray }))
	st := variable(ua.NewNumericNodeID(0, id.Server_ServerStatus), "ServerStatus", 0, id.ServerStatusDataType, -1, id.ServerStatusType,
		func() any { return ua.NewExtensionObject(status()) })
	link(server, id.HasComponent, st)
	link(st, id.HasComponent, variable(ua.NewNumericNodeID(0, id.Server_ServerStatus_StartTime), "StartTime", 0, id.DateTime, -1, id.BaseDataVariableType,
		func() any { return status().StartTime }))
	link(st, id.HasComponent, variable(ua.NewNumericNodeID(0, id.Server_ServerStatus_CurrentTime), "CurrentTime", 0, id.DateTime, -1, id.BaseDataVariableType,
		func() any { return time.Now().UTC() }))
	link(st, id.HasComponent, variable(ua.NewNumericNodeID(0, id.Server_ServerStatus_State), "State", 0, id.ServerState, -1, id.BaseDataVariableType,
		func() any { return int32(ua.ServerStateRunning) }))

	m := p.model
	sp.plc = sp.add(&uaNode{id: ua.NewNumericNodeID(UANamespace, UAPLCNode), class: ua.NodeClassObject,
		browse: &ua.QualifiedName{NamespaceIndex: UANamespace, Name: p.ID()},
		desc:   text(fmt.Sprintf("%s (%s)", m.Title, m.Name)), typeDef: id.BaseObjectType, tag: -1, diag: -1})
	link(sp.node0(id.ObjectsFolder), id.Organizes, sp.plc)
	sp.tags = make([]*uaNode, len(m.Tags))
	for i := range m.Tags {
		t := &m.Tags[i]
		nid, _ := ua.ParseNodeID(UANodeID(t.Name))
		n := &uaNode{id: nid, class: ua.NodeClassVariable, browse: &ua.QualifiedName{NamespaceIndex: UANamespace, Name: t.Name},
			desc: text(t.Desc), valueRank: -1, tag: i, diag: -1,
			writable: t.Table == Coil || t.Table == HoldingRegister}
		if t.Analog() {
			n.dataType, n.typeDef = id.Float, id.AnalogItemType
		} else {
			n.dataType, n.typeDef = id.Boolean, id.BaseDataVariableType
		}
		sp.add(n)
		link(sp.plc, id.HasComponent, n)
		sp.tags[i] = n
		if !t.Analog() {
			continue
		}
		rng := &ua.Range{Low: t.Min, High: t.Max}
		eu := euInformation(t.Unit)
		for _, prop := range []struct {
			name string
			dt   uint32
			v    any
		}{{"EURange", id.Range, rng}, {"EngineeringUnits", id.EUInformation, eu}} {
			pid, _ := ua.ParseNodeID(UANodeID(t.Name + "." + prop.name))
			v := prop.v
			link(n, id.HasProperty, variable(pid, prop.name, 0, prop.dt, -1, id.PropertyType,
				func() any { return ua.NewExtensionObject(v) }))
		}
	}
	for _, d := range uaDiags {
		nid, _ := ua.ParseNodeID(UANodeID(d.name))
		dt := uint32(id.UInt16)
		if d.wide {
			dt = id.UInt32
		}
		n := variable(nid, d.name, UANamespace, dt, -1, id.BaseDataVariableType, nil)
		n.diag = d.reg
		n.desc = text(DiagNames[d.reg])
		link(sp.plc, id.HasComponent, n)
	}
	return sp
}

func (sp *uaSpace) node0(i uint32) *uaNode { return sp.nodes[ua.NewNumericNodeID(0, i).String()] }

// lookup finds a node by id.
func (sp *uaSpace) lookup(nid *ua.NodeID) *uaNode {
	if nid == nil {
		return nil
	}
	return sp.nodes[nid.String()]
}

// isSubtype reports whether reference type typ is want or, with subtypes,
// derives from it.
func (sp *uaSpace) isSubtype(typ, want uint32, subtypes bool) bool {
	if typ == want {
		return true
	}
	if !subtypes {
		return false
	}
	n := sp.node0(typ)
	for n != nil {
		var parent *uaNode
		for _, r := range n.refs {
			if r.typ == id.HasSubtype && !r.forward {
				parent = r.target
			}
		}
		if parent == nil {
			return false
		}
		if parent.id.IntID() == want && parent.id.Namespace() == 0 {
			return true
		}
		n = parent
	}
	return false
}

// refTypeOf returns the reference type a browse filter names: 0 for all,
// ok=false for one that is not a reference type.
func (sp *uaSpace) refTypeOf(nid *ua.NodeID) (uint32, bool) {
	if nid == nil || nid.Namespace() == 0 && nid.IntID() == 0 && nid.Type() != ua.NodeIDTypeString {
		return 0, true
	}
	n := sp.lookup(nid)
	if n == nil || n.class != ua.NodeClassReferenceType {
		return 0, false
	}
	return nid.IntID(), true
}

// AccessLevel bits (OPC UA Part 3, 8.57).
const (
	uaCurrentRead  = 0x01
	uaCurrentWrite = 0x02
)

// attribute answers a read of one attribute of n by a session acting as
// who; tagVal is the node's current value (tags and diagnostics).
func (sp *uaSpace) attribute(n *uaNode, attr ua.AttributeID, who *uaIdentity, p *PLC) (any, ua.StatusCode) {
	switch attr {
	case ua.AttributeIDNodeID:
		return n.id, ua.StatusOK
	case ua.AttributeIDNodeClass:
		return int32(n.class), ua.StatusOK
	case ua.AttributeIDBrowseName:
		return n.browse, ua.StatusOK
	case ua.AttributeIDDisplayName:
		return n.display, ua.StatusOK
	case ua.AttributeIDDescription:
		return n.desc, ua.StatusOK
	case ua.AttributeIDWriteMask, ua.AttributeIDUserWriteMask:
		return uint32(0), ua.StatusOK
	}
	switch n.class {
	case ua.NodeClassObject:
		if attr == ua.AttributeIDEventNotifier {
			return byte(0), ua.StatusOK
		}
	case ua.NodeClassObjectType, ua.NodeClassDataType:
		if attr == ua.AttributeIDIsAbstract {
			return n.abstract, ua.StatusOK
		}
	case ua.NodeClassVariableType:
		switch attr {
		case ua.AttributeIDIsAbstract:
			return n.abstract, ua.StatusOK
		case ua.AttributeIDDataType:
			return ua.NewNumericNodeID(0, id.BaseDataType), ua.StatusOK
		case ua.AttributeIDValueRank:
			return int32(-2), ua.StatusOK
		}
	case ua.NodeClassReferenceType:
		switch attr {
		case ua.AttributeIDIsAbstract:
			return n.abstract, ua.StatusOK
		case ua.AttributeIDSymmetric:
			return n.symmetric, ua.StatusOK
		case ua.AttributeIDInverseName:
			if n.inverse != "" {
				return text(n.inverse), ua.StatusOK
			}
			return &ua.LocalizedText{}, ua.StatusOK
		}
	case ua.NodeClassVariable:
		switch attr {
		case ua.AttributeIDValue:
			return sp.value(n, p), ua.StatusOK
		case ua.AttributeIDDataType:
			return ua.NewNumericNodeID(0, n.dataType), ua.StatusOK
		case ua.AttributeIDValueRank:
			return n.valueRank, ua.StatusOK
		case ua.AttributeIDArrayDimensions:
			if n.valueRank == 1 {
				return []uint32{0}, ua.StatusOK
			}
			return []uint32{}, ua.StatusOK
		case ua.AttributeIDAccessLevel:
			return sp.accessLevel(n, nil, p), ua.StatusOK
		case ua.AttributeIDUserAccessLevel:
			return sp.accessLevel(n, who, p), ua.StatusOK
		case ua.AttributeIDMinimumSamplingInterval:
			return float64(p.cfg.Scan) / float64(time.Millisecond), ua.StatusOK
		case ua.AttributeIDHistorizing:
			return false, ua.StatusOK
		}
	}
	return nil, ua.StatusBadAttributeIDInvalid
}

// accessLevel is a variable's AccessLevel, or with who its
// UserAccessLevel: writable only where a Modbus client may write (coils
// and holding registers), and for who only where its role may.
func (sp *uaSpace) accessLevel(n *uaNode, who *uaIdentity, p *PLC) byte {
	level := byte(uaCurrentRead)
	if n.writable && (who == nil || who.mayWrite(p.model.Tags[n.tag].Class)) {
		level |= uaCurrentWrite
	}
	return level
}

// value is a variable's value: a tag from the register image (the
// reported view, as Modbus reads it), a diagnostic, or a computed one. The
// PLC's lock is held for tags and diagnostics.
func (sp *uaSpace) value(n *uaNode, p *PLC) any {
	switch {
	case n.tag >= 0:
		v := p.imageValue(n.tag)
		if n.dataType == id.Boolean {
			return v >= 0.5
		}
		return float32(v)
	case n.diag >= 0:
		d := p.input[DiagBase+n.diag:]
		if n.dataType == id.UInt32 {
			return uint32(d[0])<<16 | uint32(d[1])
		}
		return d[0]
	case n.value != nil:
		return n.value()
	}
	return nil
}

// numeric is a value as the traffic log records it.
func numeric(v any) float64 {
	switch x := v.(type) {
	case bool:
		return b2f(x)
	case float32:
		return float64(x)
	case float64:
		return x
	case uint32:
		return float64(x)
	case uint16:
		return float64(x)
	}
	return math.NaN()
}
