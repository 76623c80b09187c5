package engine

import (
	"sync"

	"github.com/icsrange/icsrange/engine/store"
)

// Update is a committed event and, for a team's event, the team's score
// right after it (so viewers can animate the change without a query).
type Update struct {
	Event store.Event
	Score int
	// Traffic, when set, is new traffic-log rows instead of an event.
	Traffic *TrafficBatch
}

// Feed fans committed events out to subscribers. Publishing never blocks:
// a subscriber whose buffer is full is dropped (its channel closed) and
// catches up from the store when it reconnects.
type Feed struct {
	mu   sync.Mutex
	subs map[chan Update]struct{}
}

func newFeed() *Feed { return &Feed{subs: map[chan Update]struct{}{}} }

// Subscribe returns a channel of updates committed from now on and a
// function that ends the subscription.
func (f *Feed) Subscribe(buffer int) (<-chan Update, func()) {
	ch := make(chan Update, buffer)
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	return ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.subs[ch]; ok {
			delete(f.subs, ch)
			close(ch)
		}
	}
}

// Publish sends an update to every subscriber that has room.
func (f *Feed) Publish(u Update) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		select {
		case ch <- u:
		default:
			delete(f.subs, ch)
			close(ch)
		}
	}
}

// Close ends every subscription.
func (f *Feed) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		delete(f.subs, ch)
		close(ch)
	}
}
