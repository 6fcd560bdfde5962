package tokenauth

import (
	"container/list"
	"sync"
	"time"
)

// entry is one cached answer: a user, or DRF's message for a refusal.
type entry struct {
	user    User
	refusal string
	expires time.Time
}

// lru is a bounded cache of answers by key digest, least recently used out
// first; an entry past its expiry is never returned.
type lru struct {
	mu    sync.Mutex
	size  int
	order *list.List // front: most recently used; values are *item
	items map[[32]byte]*list.Element
}

type item struct {
	digest [32]byte
	entry  entry
}

func newLRU(size int) *lru {
	return &lru{size: size, order: list.New(), items: make(map[[32]byte]*list.Element, size)}
}

// get returns the fresh entry of digest; a stale one is dropped.
func (c *lru) get(digest [32]byte, now time.Time) (entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[digest]
	if !ok {
		return entry{}, false
	}
	it := el.Value.(*item)
	if !now.Before(it.entry.expires) {
		c.order.Remove(el)
		delete(c.items, digest)
		return entry{}, false
	}
	c.order.MoveToFront(el)
	return it.entry, true
}

// put stores e for digest, evicting the least recently used entry when full.
func (c *lru) put(digest [32]byte, e entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[digest]; ok {
		el.Value.(*item).entry = e
		c.order.MoveToFront(el)
		return
	}
	if c.order.Len() >= c.size {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*item).digest)
	}
	c.items[digest] = c.order.PushFront(&item{digest: digest, entry: e})
}
