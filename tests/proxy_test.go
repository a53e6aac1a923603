package tests

import (
	"bufio"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// forwardProxy is an HTTP forward proxy that only tunnels (CONNECT) and
// requires Basic credentials, counting what it was asked.
type forwardProxy struct {
	Addr *net.TCPAddr

	connects atomic.Int64 // tunnels opened
	refused  atomic.Int64 // CONNECTs without the right credentials
	other    atomic.Int64 // requests that were not CONNECT

	mu      sync.Mutex
	targets map[string]int // tunnels per host:port asked for
}

// startForwardProxy starts a proxy accepting only user/pass; it is closed
// when the test ends.
func startForwardProxy(t *testing.T, user, pass string) *forwardProxy {
	t.Helper()
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	p := &forwardProxy{targets: map[string]int{}}
	p.Addr = listen(t, func(conn net.Conn) {
		br := bufio.NewReader(conn)
		req, err := http.ReadRequest(br)
		if err != nil {
			return // a health check that only connects, or garbage
		}
		if req.Method != http.MethodConnect {
			p.other.Add(1)
			io.WriteString(conn, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			return
		}
		if req.Header.Get("Proxy-Authorization") != want {
			p.refused.Add(1)
			io.WriteString(conn, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			return
		}
		target := req.Host
		up, err := net.DialTimeout("tcp", target, 5*time.Second)
		if err != nil {
			io.WriteString(conn, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			return
		}
		defer up.Close()
		p.connects.Add(1)
		p.mu.Lock()
		p.targets[target]++
		p.mu.Unlock()
		io.WriteString(conn, "HTTP/1.1 200 Connection Established\r\n\r\n")
		done := make(chan struct{})
		go func() {
			defer close(done)
			io.Copy(up, br) // what the client sent, buffered bytes first
			if tc, ok := up.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
		}()
		io.Copy(conn, up)
		conn.Close()
		<-done
	})
	return p
}
