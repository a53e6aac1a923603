package httpcheck_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// forwardProxy is an HTTP forward proxy: it tunnels CONNECT requests and
// forwards plain (absolute-form) requests, after checking Basic
// Proxy-Authorization, and counts what it did.
type forwardProxy struct {
	*httptest.Server
	user, pass string

	connects atomic.Int64 // tunnels opened
	plain    atomic.Int64 // plain requests forwarded
	refused  atomic.Int64 // requests without the right credentials

	mu      sync.Mutex
	targets []string // CONNECT targets, in order

	upstream *http.Transport // for plain requests
	tunnels  sync.WaitGroup
}

func newForwardProxy(t testing.TB, user, pass string, tls bool) *forwardProxy {
	t.Helper()
	p := &forwardProxy{user: user, pass: pass, upstream: &http.Transport{DisableKeepAlives: true}}
	p.Server = httptest.NewUnstartedServer(p)
	p.Server.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes refused on purpose
	if tls {
		p.Server.StartTLS()
	} else {
		p.Server.Start()
	}
	t.Cleanup(func() {
		p.Server.Close()
		p.tunnels.Wait()
		p.upstream.CloseIdleConnections()
	})
	return p
}

func (p *forwardProxy) port() int { return portOf(p.URL) }

func (p *forwardProxy) seenTargets() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.targets...)
}

func (p *forwardProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(p.user+":"+p.pass))
	if (p.user != "" || p.pass != "") && r.Header.Get("Proxy-Authorization") != want {
		p.refused.Add(1)
		w.Header().Set("Proxy-Authenticate", `Basic realm="test"`)
		http.Error(w, "proxy authentication required", http.StatusProxyAuthRequired)
		return
	}
	if r.Method == http.MethodConnect {
		p.connect(w, r)
		return
	}
	if !r.URL.IsAbs() {
		http.Error(w, "not a proxy request", http.StatusBadRequest)
		return
	}
	p.plain.Add(1)
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.Header.Del("Proxy-Authorization")
	resp, err := p.upstream.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

func (p *forwardProxy) connect(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.targets = append(p.targets, r.Host)
	p.mu.Unlock()
	up, err := net.DialTimeout("tcp", r.Host, 2*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	conn, brw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		up.Close()
		return
	}
	p.connects.Add(1)
	p.tunnels.Add(1)
	defer p.tunnels.Done()
	conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	pipe(conn, brw.Reader, up)
}

// pipe copies between a client connection (read through r) and an upstream
// one until both directions end, then closes both.
func pipe(client net.Conn, r io.Reader, up net.Conn) {
	done := make(chan struct{})
	go func() {
		io.Copy(up, r)
		if tc, ok := up.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		close(done)
	}()
	io.Copy(client, up)
	client.Close()
	up.Close()
	<-done
}

// socksServer is a SOCKS5 proxy (RFC 1928) with optional username/password
// authentication (RFC 1929), CONNECT only.
type socksServer struct {
	l          net.Listener
	user, pass string
	wg         sync.WaitGroup
	mu         sync.Mutex
	conns      map[net.Conn]bool
	targets    []string
	connects   atomic.Int64
}

func newSOCKSServer(t testing.TB, user, pass string) *socksServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &socksServer{l: l, user: user, pass: pass, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *socksServer) port() int { return s.l.Addr().(*net.TCPAddr).Port }

func (s *socksServer) close() {
	s.l.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *socksServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

func (s *socksServer) handle(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	head := make([]byte, 2)
	if _, err := io.ReadFull(br, head); err != nil || head[0] != 5 {
		return
	}
	methods := make([]byte, head[1])
	if _, err := io.ReadFull(br, methods); err != nil {
		return
	}
	method := byte(0x00)
	if s.user != "" {
		method = 0x02
	}
	if !bytes.Contains(methods, []byte{method}) {
		c.Write([]byte{5, 0xff})
		return
	}
	c.Write([]byte{5, method})
	if method == 0x02 {
		ver, _ := br.ReadByte()
		n, _ := br.ReadByte()
		user := make([]byte, n)
		io.ReadFull(br, user)
		n, _ = br.ReadByte()
		pass := make([]byte, n)
		io.ReadFull(br, pass)
		if ver != 1 || string(user) != s.user || string(pass) != s.pass {
			c.Write([]byte{1, 1})
			return
		}
		c.Write([]byte{1, 0})
	}
	req := make([]byte, 4)
	if _, err := io.ReadFull(br, req); err != nil || req[1] != 1 {
		c.Write([]byte{5, 7, 0, 1, 0, 0, 0, 0, 0, 0}) // command not supported
		return
	}
	var host string
	switch req[3] {
	case 1:
		ip := make([]byte, 4)
		io.ReadFull(br, ip)
		host = net.IP(ip).String()
	case 4:
		ip := make([]byte, 16)
		io.ReadFull(br, ip)
		host = net.IP(ip).String()
	case 3:
		n, _ := br.ReadByte()
		name := make([]byte, n)
		io.ReadFull(br, name)
		host = string(name)
	default:
		return
	}
	pb := make([]byte, 2)
	if _, err := io.ReadFull(br, pb); err != nil {
		return
	}
	target := net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(pb))))
	s.mu.Lock()
	s.targets = append(s.targets, target)
	s.mu.Unlock()
	up, err := net.DialTimeout("tcp", target, 2*time.Second)
	if err != nil {
		c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0}) // connection refused
		return
	}
	s.connects.Add(1)
	c.Write([]byte{5, 0, 0, 1, 127, 0, 0, 1, 0, 0})
	c.SetDeadline(time.Time{})
	pipe(c, br, up)
}

func (s *socksServer) seenTargets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.targets...)
}

// rawServer answers every connection with fn (for broken servers).
func rawServer(t testing.TB, fn func(net.Conn)) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				fn(c)
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return l.Addr().(*net.TCPAddr).Port
}

// readRequestHead reads an HTTP request's head from c.
func readRequestHead(c net.Conn) string {
	br := bufio.NewReader(c)
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil || line == "\r\n" {
			return b.String()
		}
	}
}
