package plantsim

import (
	"math"
	"reflect"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/icsrange/icsrange/plant-sim/opcua"
)

// Bounds on what one session may ask for.
const (
	uaMaxSubscriptions = 8
	uaMaxItems         = 1000 // per subscription
	uaMaxPublishQueue  = 16
	uaRetransmit       = 4 // notification messages kept for Republish
	uaMinInterval      = 50 * time.Millisecond
)

// uaPublish is a publish request waiting for something to send.
type uaPublish struct {
	reqID   uint32
	handle  uint32
	raw     []byte // the request as it came, recorded with the answer
	results []ua.StatusCode
}

// uaSub is a subscription: every publishing interval it samples its items
// and sends what changed (or a keep-alive) in answer to a waiting publish
// request.
type uaSub struct {
	id         uint32
	sess       *uaSession
	interval   time.Duration
	lifetime   uint32
	keepAlive  uint32
	maxNotif   uint32
	publishing bool
	items      []*uaItem
	nextItem   uint32
	seq        uint32 // the last sequence number sent
	next       time.Time
	keepCount  uint32
	lifeCount  uint32
	retrans    []*ua.NotificationMessage
	late       bool // notifications wait for a publish request
}

// uaItem is a monitored item; its queue holds one value.
type uaItem struct {
	id       uint32
	node     *uaNode
	attr     ua.AttributeID
	handle   uint32
	mode     ua.MonitoringMode
	ts       ua.TimestampsToReturn
	deadband uint32 // 0 none, 1 absolute, 2 percent of the EU range
	db       float64
	have     bool
	last     any
	lastSt   ua.StatusCode
	pending  *ua.DataValue
}

func (c *uaConn) findSub(sess *uaSession, id uint32) *uaSub {
	for _, s := range sess.subs {
		if s.id == id {
			return s
		}
	}
	return nil
}

// revise fits a subscription's requested timing to the PLC and the
// connection: no faster than a scan, keep-alives well inside the idle
// timeout, a lifetime of at least three keep-alives.
func (c *uaConn) revise(sub *uaSub, interval float64, lifetime, keepAlive, maxNotif uint32) {
	d := time.Duration(interval * float64(time.Millisecond))
	if math.IsNaN(interval) || d < uaMinInterval {
		d = uaMinInterval
	}
	d = min(max(d, c.p.cfg.Scan), time.Hour)
	keep := max(keepAlive, 1)
	if limit := uint32(c.s.cfg.IdleTimeout / 2 / d); keep > limit {
		keep = max(limit, 1)
	}
	sub.interval, sub.keepAlive, sub.lifetime, sub.maxNotif = d, keep, max(lifetime, 3*keep), maxNotif
}

func (c *uaConn) createSubscription(sess *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.CreateSubscriptionRequest)
	h := req.RequestHeader.RequestHandle
	if len(sess.subs) >= uaMaxSubscriptions {
		return &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(h, ua.StatusBadTooManySubscriptions, time.Now())}
	}
	sub := &uaSub{id: c.s.subIDs.Add(1), sess: sess, publishing: req.PublishingEnabled}
	c.revise(sub, req.RequestedPublishingInterval, req.RequestedLifetimeCount, req.RequestedMaxKeepAliveCount, req.MaxNotificationsPerPublish)
	sub.next = time.Now().Add(sub.interval)
	sess.subs = append(sess.subs, sub)
	return &ua.CreateSubscriptionResponse{ResponseHeader: opcua.ResponseHeader(h, ua.StatusOK, time.Now()), SubscriptionID: sub.id,
		RevisedPublishingInterval: float64(sub.interval) / float64(time.Millisecond),
		RevisedLifetimeCount:      sub.lifetime, RevisedMaxKeepAliveCount: sub.keepAlive}
}

func (c *uaConn) modifySubscription(sess *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.ModifySubscriptionRequest)
	h := req.RequestHeader.RequestHandle
	sub := c.findSub(sess, req.SubscriptionID)
	if sub == nil {
		return &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(h, ua.StatusBadSubscriptionIDInvalid, time.Now())}
	}
	c.revise(sub, req.RequestedPublishingInterval, req.RequestedLifetimeCount, req.RequestedMaxKeepAliveCount, req.MaxNotificationsPerPublish)
	return &ua.ModifySubscriptionResponse{ResponseHeader: opcua.ResponseHeader(h, ua.StatusOK, time.Now()),
		RevisedPublishingInterval: float64(sub.interval) / float64(time.Millisecond),
		RevisedLifetimeCount:      sub.lifetime, RevisedMaxKeepAliveCount: sub.keepAlive}
}

func (c *uaConn) setPublishingMode(sess *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.SetPublishingModeRequest)
	res := make([]ua.StatusCode, len(req.SubscriptionIDs))
	for i, sid := range req.SubscriptionIDs {
		if sub := c.findSub(sess, sid); sub != nil {
			sub.publishing = req.PublishingEnabled
		} else {
			res[i] = ua.StatusBadSubscriptionIDInvalid
		}
	}
	return &ua.SetPublishingModeResponse{ResponseHeader: opcua.ResponseHeader(req.RequestHeader.RequestHandle, ua.StatusOK, time.Now()),
		Results: res, DiagnosticInfos: []*ua.DiagnosticInfo{}}
}

func (c *uaConn) deleteSubscriptions(sess *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.DeleteSubscriptionsRequest)
	res := make([]ua.StatusCode, len(req.SubscriptionIDs))
	for i, sid := range req.SubscriptionIDs {
		if !c.removeSub(sess, sid) {
			res[i] = ua.StatusBadSubscriptionIDInvalid
		}
	}
	resp := &ua.DeleteSubscriptionsResponse{ResponseHeader: opcua.ResponseHeader(req.RequestHeader.RequestHandle, ua.StatusOK, time.Now()),
		Results: res, DiagnosticInfos: []*ua.DiagnosticInfo{}}
	return resp
}

func (c *uaConn) removeSub(sess *uaSession, sid uint32) bool {
	for i, s := range sess.subs {
		if s.id == sid {
			sess.subs = append(sess.subs[:i], sess.subs[i+1:]...)
			if len(sess.subs) == 0 {
				c.answerAll(sess, ua.StatusBadNoSubscription)
			}
			return true
		}
	}
	return false
}

// answerAll answers a session's waiting publish requests with st.
func (c *uaConn) answerAll(sess *uaSession, st ua.StatusCode) {
	q := sess.publishQ
	sess.publishQ = nil
	saved := c.items
	for _, pr := range q {
		c.items = c.items[:0]
		c.sendResponse(pr.reqID, pr.raw, "publish", &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(pr.handle, st, time.Now())})
	}
	c.items = saved[:0]
}

func (c *uaConn) publish(sess *uaSession, r ua.Request, m *opcua.Message) ua.Response {
	req := r.(*ua.PublishRequest)
	h := req.RequestHeader.RequestHandle
	res := make([]ua.StatusCode, len(req.SubscriptionAcknowledgements))
	for i, a := range req.SubscriptionAcknowledgements {
		sub := c.findSub(sess, a.SubscriptionID)
		switch {
		case sub == nil:
			res[i] = ua.StatusBadSubscriptionIDInvalid
		case !sub.ack(a.SequenceNumber):
			res[i] = ua.StatusBadSequenceNumberUnknown
		}
	}
	if len(sess.subs) == 0 {
		return &ua.PublishResponse{ResponseHeader: opcua.ResponseHeader(h, ua.StatusBadNoSubscription, time.Now()),
			Results: res, DiagnosticInfos: []*ua.DiagnosticInfo{}, NotificationMessage: &ua.NotificationMessage{}}
	}
	if len(sess.publishQ) >= uaMaxPublishQueue {
		return &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(h, ua.StatusBadTooManyPublishRequests, time.Now())}
	}
	sess.publishQ = append(sess.publishQ, uaPublish{reqID: m.RequestID, handle: h, raw: append([]byte(nil), m.Raw...), results: res})
	for _, sub := range sess.subs {
		if sub.late && len(sess.publishQ) > 0 {
			c.notify(sub, time.Now())
		}
	}
	return nil // answered when there is something to send
}

// ack drops an acknowledged message from the retransmission queue.
func (s *uaSub) ack(seq uint32) bool {
	for i, m := range s.retrans {
		if m.SequenceNumber == seq {
			s.retrans = append(s.retrans[:i], s.retrans[i+1:]...)
			return true
		}
	}
	return false
}

func (c *uaConn) republish(sess *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.RepublishRequest)
	h := req.RequestHeader.RequestHandle
	sub := c.findSub(sess, req.SubscriptionID)
	if sub == nil {
		return &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(h, ua.StatusBadSubscriptionIDInvalid, time.Now())}
	}
	for _, m := range sub.retrans {
		if m.SequenceNumber == req.RetransmitSequenceNumber {
			return &ua.RepublishResponse{ResponseHeader: opcua.ResponseHeader(h, ua.StatusOK, time.Now()), NotificationMessage: m}
		}
	}
	return &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(h, ua.StatusBadMessageNotAvailable, time.Now())}
}

func (c *uaConn) createMonitoredItems(sess *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.CreateMonitoredItemsRequest)
	h := req.RequestHeader.RequestHandle
	sub := c.findSub(sess, req.SubscriptionID)
	switch {
	case sub == nil:
		return &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(h, ua.StatusBadSubscriptionIDInvalid, time.Now())}
	case req.TimestampsToReturn > ua.TimestampsToReturnNeither:
		return &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(h, ua.StatusBadTimestampsToReturnInvalid, time.Now())}
	case len(req.ItemsToCreate) == 0:
		return &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(h, ua.StatusBadNothingToDo, time.Now())}
	}
	res := make([]*ua.MonitoredItemCreateResult, len(req.ItemsToCreate))
	for i, it := range req.ItemsToCreate {
		res[i] = &ua.MonitoredItemCreateResult{FilterResult: ua.NewExtensionObject(nil)}
		var n *uaNode
		var nid *ua.NodeID
		if it.ItemToMonitor != nil {
			nid = it.ItemToMonitor.NodeID
			n = c.s.space.lookup(nid)
		}
		st := ua.StatusOK
		item := &uaItem{node: n, ts: req.TimestampsToReturn, mode: it.MonitoringMode}
		switch {
		case len(sub.items) >= uaMaxItems:
			st = ua.StatusBadTooManyMonitoredItems
		case n == nil:
			st = ua.StatusBadNodeIDUnknown
		case it.MonitoringMode > ua.MonitoringModeReporting:
			st = ua.StatusBadMonitoringModeInvalid
		default:
			item.attr = it.ItemToMonitor.AttributeID
			if item.attr == ua.AttributeIDValue && n.class != ua.NodeClassVariable {
				st = ua.StatusBadAttributeIDInvalid
			} else if item.attr != ua.AttributeIDValue {
				// Only values are read under the PLC's lock; other
				// attributes are fixed.
				_, st = c.s.space.attribute(n, item.attr, &sess.who, c.p)
			}
			if st == ua.StatusOK && it.RequestedParameters != nil {
				item.handle = it.RequestedParameters.ClientHandle
				st = c.filter(item, it.RequestedParameters.Filter)
			}
		}
		c.item(n, nid, false, 0, st)
		if st != ua.StatusOK {
			res[i].StatusCode = st
			continue
		}
		sub.nextItem++
		item.id = sub.nextItem
		sub.items = append(sub.items, item)
		res[i].MonitoredItemID = item.id
		res[i].RevisedSamplingInterval = float64(sub.interval) / float64(time.Millisecond)
		res[i].RevisedQueueSize = 1
	}
	return &ua.CreateMonitoredItemsResponse{ResponseHeader: opcua.ResponseHeader(h, ua.StatusOK, time.Now()),
		Results: res, DiagnosticInfos: []*ua.DiagnosticInfo{}}
}

// filter takes a monitored item's filter: none, or a data change filter
// with an absolute deadband or one in percent of the item's EU range.
func (c *uaConn) filter(item *uaItem, eo *ua.ExtensionObject) ua.StatusCode {
	if eo == nil || eo.Value == nil {
		item.deadband = 0
		return ua.StatusOK
	}
	f, ok := eo.Value.(*ua.DataChangeFilter)
	if !ok || item.attr != ua.AttributeIDValue {
		return ua.StatusBadFilterNotAllowed
	}
	switch f.DeadbandType {
	case 0:
	case 1:
		if item.node.tag < 0 || f.DeadbandValue < 0 || math.IsNaN(f.DeadbandValue) {
			return ua.StatusBadDeadbandFilterInvalid
		}
	case 2:
		if item.node.tag < 0 || !c.p.model.Tags[item.node.tag].Analog() || f.DeadbandValue < 0 || f.DeadbandValue > 100 {
			return ua.StatusBadDeadbandFilterInvalid
		}
	default:
		return ua.StatusBadDeadbandFilterInvalid
	}
	item.deadband, item.db = f.DeadbandType, f.DeadbandValue
	return ua.StatusOK
}

func (c *uaConn) modifyMonitoredItems(sess *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.ModifyMonitoredItemsRequest)
	h := req.RequestHeader.RequestHandle
	sub := c.findSub(sess, req.SubscriptionID)
	if sub == nil {
		return &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(h, ua.StatusBadSubscriptionIDInvalid, time.Now())}
	}
	res := make([]*ua.MonitoredItemModifyResult, len(req.ItemsToModify))
	for i, m := range req.ItemsToModify {
		res[i] = &ua.MonitoredItemModifyResult{FilterResult: ua.NewExtensionObject(nil)}
		item := sub.item(m.MonitoredItemID)
		switch {
		case item == nil:
			res[i].StatusCode = ua.StatusBadMonitoredItemIDInvalid
		case m.RequestedParameters == nil:
		default:
			item.handle = m.RequestedParameters.ClientHandle
			res[i].StatusCode = c.filter(item, m.RequestedParameters.Filter)
		}
		res[i].RevisedSamplingInterval = float64(sub.interval) / float64(time.Millisecond)
		res[i].RevisedQueueSize = 1
	}
	return &ua.ModifyMonitoredItemsResponse{ResponseHeader: opcua.ResponseHeader(h, ua.StatusOK, time.Now()),
		Results: res, DiagnosticInfos: []*ua.DiagnosticInfo{}}
}

func (s *uaSub) item(id uint32) *uaItem {
	for _, it := range s.items {
		if it.id == id {
			return it
		}
	}
	return nil
}

func (c *uaConn) setMonitoringMode(sess *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.SetMonitoringModeRequest)
	h := req.RequestHeader.RequestHandle
	sub := c.findSub(sess, req.SubscriptionID)
	if sub == nil {
		return &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(h, ua.StatusBadSubscriptionIDInvalid, time.Now())}
	}
	res := make([]ua.StatusCode, len(req.MonitoredItemIDs))
	for i, mid := range req.MonitoredItemIDs {
		switch item := sub.item(mid); {
		case item == nil:
			res[i] = ua.StatusBadMonitoredItemIDInvalid
		case req.MonitoringMode > ua.MonitoringModeReporting:
			res[i] = ua.StatusBadMonitoringModeInvalid
		default:
			item.mode = req.MonitoringMode
		}
	}
	return &ua.SetMonitoringModeResponse{ResponseHeader: opcua.ResponseHeader(h, ua.StatusOK, time.Now()),
		Results: res, DiagnosticInfos: []*ua.DiagnosticInfo{}}
}

func (c *uaConn) deleteMonitoredItems(sess *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.DeleteMonitoredItemsRequest)
	h := req.RequestHeader.RequestHandle
	sub := c.findSub(sess, req.SubscriptionID)
	if sub == nil {
		return &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(h, ua.StatusBadSubscriptionIDInvalid, time.Now())}
	}
	res := make([]ua.StatusCode, len(req.MonitoredItemIDs))
	for i, mid := range req.MonitoredItemIDs {
		res[i] = ua.StatusBadMonitoredItemIDInvalid
		for j, it := range sub.items {
			if it.id == mid {
				sub.items = append(sub.items[:j], sub.items[j+1:]...)
				res[i] = ua.StatusOK
				break
			}
		}
	}
	return &ua.DeleteMonitoredItemsResponse{ResponseHeader: opcua.ResponseHeader(h, ua.StatusOK, time.Now()),
		Results: res, DiagnosticInfos: []*ua.DiagnosticInfo{}}
}

// tick runs the publishing cycles that are due and ends sessions that
// timed out.
func (c *uaConn) tick(now time.Time) {
	for i := 0; i < len(c.sessions); i++ {
		sess := c.sessions[i]
		if now.Sub(sess.lastUsed) > sess.timeout {
			c.dropSession(sess)
			i--
			continue
		}
		for j := 0; j < len(sess.subs); j++ {
			sub := sess.subs[j]
			if now.Before(sub.next) {
				continue
			}
			sub.next = sub.next.Add(sub.interval)
			if sub.next.Before(now) {
				sub.next = now.Add(sub.interval) // behind: don't catch up in a burst
			}
			if !c.cycle(sub, now) {
				c.removeSub(sess, sub.id) // its lifetime ran out without publish requests
				j--
			}
		}
	}
}

// nextWake is how long until tick has something to do.
func (c *uaConn) nextWake(now time.Time) time.Duration {
	d := time.Hour
	for _, sess := range c.sessions {
		d = min(d, sess.timeout-now.Sub(sess.lastUsed))
		for _, sub := range sess.subs {
			d = min(d, sub.next.Sub(now))
		}
	}
	return max(d, time.Millisecond)
}

// cycle is one publishing cycle: sample, then send notifications or a
// keep-alive if a publish request waits. It reports false when the
// subscription's lifetime has run out.
func (c *uaConn) cycle(sub *uaSub, now time.Time) bool {
	if c.quiet() {
		return true // a silent PLC neither samples nor publishes
	}
	c.sample(sub, now)
	pending := false
	for _, it := range sub.items {
		pending = pending || it.pending != nil
	}
	switch {
	case pending && sub.publishing:
		if len(sub.sess.publishQ) > 0 {
			c.notify(sub, now)
			return true
		}
		sub.late = true
	default:
		sub.keepCount++
		if sub.keepCount < sub.keepAlive {
			return true
		}
		if len(sub.sess.publishQ) > 0 {
			c.keepAlive(sub, now)
			return true
		}
	}
	sub.lifeCount++
	return sub.lifeCount < sub.lifetime
}

// sample reads a subscription's items and queues what changed.
func (c *uaConn) sample(sub *uaSub, now time.Time) {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, it := range sub.items {
		if it.mode == ua.MonitoringModeDisabled {
			continue
		}
		v, st := c.s.space.attribute(it.node, it.attr, &sub.sess.who, p)
		if it.have && st == it.lastSt && !c.changed(it, v) {
			continue
		}
		it.have, it.last, it.lastSt = true, v, st
		if it.mode != ua.MonitoringModeReporting {
			continue
		}
		dv := &ua.DataValue{EncodingMask: ua.DataValueStatusCode, Status: st}
		if st == ua.StatusOK {
			dv.EncodingMask |= ua.DataValueValue
			dv.Value = ua.MustVariant(v)
		}
		stamp(dv, it.ts, now, it.attr == ua.AttributeIDValue)
		it.pending = dv
	}
}

// changed reports whether a sampled value differs from the last reported
// one by more than the item's deadband.
func (c *uaConn) changed(it *uaItem, v any) bool {
	a, b := numeric(it.last), numeric(v)
	if it.deadband == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return !reflect.DeepEqual(it.last, v)
	}
	db := it.db
	if it.deadband == 2 {
		t := &c.p.model.Tags[it.node.tag]
		db = it.db / 100 * (t.Max - t.Min)
	}
	return math.Abs(a-b) > db
}

// stamp sets a data value's timestamps as the client asked.
func stamp(dv *ua.DataValue, ts ua.TimestampsToReturn, now time.Time, source bool) {
	if source && (ts == ua.TimestampsToReturnSource || ts == ua.TimestampsToReturnBoth) {
		dv.EncodingMask |= ua.DataValueSourceTimestamp
		dv.SourceTimestamp = now
	}
	if ts == ua.TimestampsToReturnServer || ts == ua.TimestampsToReturnBoth {
		dv.EncodingMask |= ua.DataValueServerTimestamp
		dv.ServerTimestamp = now
	}
}

// notify answers the oldest waiting publish request with the
// subscription's queued notifications.
func (c *uaConn) notify(sub *uaSub, now time.Time) {
	sess := sub.sess
	pr := sess.publishQ[0]
	sess.publishQ = sess.publishQ[1:]
	c.items = c.items[:0]
	var ns []*ua.MonitoredItemNotification
	more := false
	for _, it := range sub.items {
		if it.pending == nil {
			continue
		}
		if sub.maxNotif > 0 && uint32(len(ns)) >= sub.maxNotif {
			more = true
			break
		}
		ns = append(ns, &ua.MonitoredItemNotification{ClientHandle: it.handle, Value: it.pending})
		c.item(it.node, nil, false, numeric(it.last), it.pending.Status)
		it.pending = nil
	}
	sub.seq++
	if sub.seq == 0 {
		sub.seq = 1
	}
	msg := &ua.NotificationMessage{SequenceNumber: sub.seq, PublishTime: now,
		NotificationData: []*ua.ExtensionObject{ua.NewExtensionObject(&ua.DataChangeNotification{MonitoredItems: ns,
			DiagnosticInfos: []*ua.DiagnosticInfo{}})}}
	sub.retrans = append(sub.retrans, msg)
	if len(sub.retrans) > uaRetransmit {
		sub.retrans = sub.retrans[1:]
	}
	sub.late, sub.keepCount, sub.lifeCount = more, 0, 0
	c.sendPublish(sub, pr, msg, more)
}

// keepAlive answers a waiting publish request with an empty message
// carrying the next sequence number.
func (c *uaConn) keepAlive(sub *uaSub, now time.Time) {
	sess := sub.sess
	pr := sess.publishQ[0]
	sess.publishQ = sess.publishQ[1:]
	c.items = c.items[:0]
	next := sub.seq + 1
	if next == 0 {
		next = 1
	}
	sub.keepCount, sub.lifeCount = 0, 0
	c.sendPublish(sub, pr, &ua.NotificationMessage{SequenceNumber: next, PublishTime: now, NotificationData: []*ua.ExtensionObject{}}, false)
}

func (c *uaConn) sendPublish(sub *uaSub, pr uaPublish, msg *ua.NotificationMessage, more bool) {
	avail := make([]uint32, len(sub.retrans))
	for i, m := range sub.retrans {
		avail[i] = m.SequenceNumber
	}
	c.quiet() // the PLC clock, for the log
	c.sendResponse(pr.reqID, pr.raw, "publish", &ua.PublishResponse{
		ResponseHeader: opcua.ResponseHeader(pr.handle, ua.StatusOK, time.Now()), SubscriptionID: sub.id,
		AvailableSequenceNumbers: avail, MoreNotifications: more, NotificationMessage: msg,
		Results: pr.results, DiagnosticInfos: []*ua.DiagnosticInfo{}})
}
