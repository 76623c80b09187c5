package engine

import (
	"sync"

	"github.com/icsrange/icsrange/engine/store"
)

// Feed fans committed events out to subscribers. Publishing never blocks:
// a subscriber whose buffer is full is dropped (its channel closed) and
// catches up from the store when it reconnects.
type Feed struct {
	mu   sync.Mutex
	subs map[chan store.Event]struct{}
}

func newFeed() *Feed { return &Feed{subs: map[chan store.Event]struct{}{}} }

// Subscribe returns a channel of events committed from now on and a
// function that ends the subscription.
func (f *Feed) Subscribe(buffer int) (<-chan store.Event, func()) {
	ch := make(chan store.Event, buffer)
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

// Publish sends an event to every subscriber that has room.
func (f *Feed) Publish(e store.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		select {
		case ch <- e:
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
