package proxy

import (
	"slices"
	"sync"
	"time"
)

// balancer picks the endpoint of one service port for each new connection
// or UDP session: round robin over the ready endpoints, and with ClientIP
// affinity the endpoint a client had last if it used it within the
// timeout.
type balancer struct {
	mu        sync.Mutex
	endpoints []string // ip:port
	next      int
	affinity  time.Duration // zero without affinity
	clients   map[string]stickyEndpoint
}

type stickyEndpoint struct {
	endpoint string
	last     time.Time
}

// update replaces the endpoints and the affinity timeout. Clients stuck to
// an endpoint that is gone pick again.
func (b *balancer) update(endpoints []string, affinity time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.endpoints = slices.Clone(endpoints)
	if b.next >= len(endpoints) {
		b.next = 0
	}
	b.affinity = affinity
	if affinity == 0 {
		b.clients = nil
		return
	}
	for c, s := range b.clients {
		if !slices.Contains(endpoints, s.endpoint) {
			delete(b.clients, c)
		}
	}
}

// pick returns the endpoint for a connection from client at now, the one
// after it for a retry (skip > 0), and false when there is none.
func (b *balancer) pick(client string, now time.Time, skip int) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.endpoints) == 0 {
		return "", false
	}
	if b.affinity > 0 && skip == 0 {
		if s, ok := b.clients[client]; ok && now.Sub(s.last) < b.affinity {
			s.last = now
			b.clients[client] = s
			return s.endpoint, true
		}
	}
	ep := b.endpoints[b.next%len(b.endpoints)]
	b.next = (b.next + 1) % len(b.endpoints)
	if b.affinity > 0 {
		if b.clients == nil {
			b.clients = map[string]stickyEndpoint{}
		}
		b.clients[client] = stickyEndpoint{endpoint: ep, last: now}
		// Forget clients idle past the timeout now and then, so that the
		// map does not grow without bound.
		if len(b.clients) > 1024 && len(b.clients)%256 == 0 {
			for c, s := range b.clients {
				if now.Sub(s.last) >= b.affinity {
					delete(b.clients, c)
				}
			}
		}
	}
	return ep, true
}
