package tests

import (
	"fmt"
	"html"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testWeb is an HTTP server on a loopback port that serves each domain
// name (the Host header without its port) with its own handler. Campaigns
// reach it because the test DNS server answers 127.0.0.1 and their
// http.ports name its port.
type testWeb struct {
	Port int

	mu    sync.Mutex
	pages map[string]http.HandlerFunc
	def   http.HandlerFunc
	hits  map[string]int // requests per host

	bodyBytes atomic.Int64 // bytes written by hugePage handlers
}

// startWeb starts a server whose handler for hosts without a page of their
// own is def; it is closed when the test ends.
func startWeb(t *testing.T, def http.HandlerFunc) *testWeb {
	t.Helper()
	return startWebOn(t, "127.0.0.1", def)
}

// startWebOn is startWeb on another loopback address.
func startWebOn(t *testing.T, ip string, def http.HandlerFunc) *testWeb {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("web server: listen: %v", err)
	}
	w := &testWeb{Port: ln.Addr().(*net.TCPAddr).Port, pages: map[string]http.HandlerFunc{}, def: def, hits: map[string]int{}}
	srv := &http.Server{Handler: w, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return w
}

// handle serves host (a domain name) with h.
func (w *testWeb) handle(host string, h http.HandlerFunc) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pages[host] = h
}

func (w *testWeb) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	w.mu.Lock()
	w.hits[host]++
	h := w.pages[host]
	w.mu.Unlock()
	if h == nil {
		h = w.def
	}
	if h == nil {
		http.NotFound(rw, r)
		return
	}
	h(rw, r)
}

// TotalHits returns how many requests the server got, every host together.
func (w *testWeb) TotalHits() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, h := range w.hits {
		n += h
	}
	return n
}

// Hits returns how many requests host got.
func (w *testWeb) Hits(host string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hits[host]
}

// url is the home page URL the engine requests for name.
func (w *testWeb) url(name, path string) string {
	return "http://" + name + ":" + strconv.Itoa(w.Port) + path
}

// htmlPage answers status with an HTML document: a <title> when title is
// not empty, and text as its body.
func htmlPage(status int, title, text string) http.HandlerFunc {
	var b strings.Builder
	b.WriteString("<!doctype html><html><head>")
	if title != "" {
		fmt.Fprintf(&b, "<title>%s</title>", html.EscapeString(title))
	}
	fmt.Fprintf(&b, "</head><body><p>%s</p></body></html>", text)
	doc := b.String()
	return func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		rw.WriteHeader(status)
		rw.Write([]byte(doc))
	}
}

// redirectPage answers "/" with a 302 to path on the same host, and path
// with final.
func redirectPage(path string, final http.HandlerFunc) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == path {
			final(rw, r)
			return
		}
		http.Redirect(rw, r, path, http.StatusFound)
	}
}

// redirectLoop sends "/" to "/loop" and "/loop" back to "/".
func redirectLoop(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/loop" {
		http.Redirect(rw, r, "/", http.StatusFound)
		return
	}
	http.Redirect(rw, r, "/loop", http.StatusFound)
}

// endlessRedirects sends /r/N to /r/N+1, never repeating a URL.
func endlessRedirects(rw http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r/"))
	http.Redirect(rw, r, "/r/"+strconv.Itoa(n+1), http.StatusFound)
}

// slowPage answers only after d (or never, if the client leaves first).
func slowPage(d time.Duration, then http.HandlerFunc) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(d):
			then(rw, r)
		case <-r.Context().Done():
		}
	}
}

// hangUp closes the connection without answering.
func hangUp(rw http.ResponseWriter, r *http.Request) {
	conn, _, err := http.NewResponseController(rw).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

// halfResponse sends a status line, headers promising 10,000 bytes and the
// first few of them (with a title), then closes the connection.
func halfResponse(rw http.ResponseWriter, r *http.Request) {
	conn, buf, err := http.NewResponseController(rw).Hijack()
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 10000\r\n\r\n")
	buf.WriteString("<html><head><title>Half a Page</title></head><body>widgets")
	buf.Flush()
}

// hugePage streams a document of about 4 GiB: a title and keywords first,
// then filler, until the client hangs up. Bytes written are counted.
func (w *testWeb) hugePage(title, text string) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		rw.Header().Set("Content-Length", strconv.FormatInt(4<<30, 10))
		rw.WriteHeader(http.StatusOK)
		head := fmt.Sprintf("<html><head><title>%s</title></head><body><p>%s</p>", title, text)
		n, err := rw.Write([]byte(head))
		w.bodyBytes.Add(int64(n))
		filler := []byte(strings.Repeat("<p>lorem ipsum dolor sit amet</p>\n", 2000))
		for sent := int64(n); err == nil && sent < 4<<30; sent += int64(n) {
			chunk := filler
			if left := 4<<30 - sent; left < int64(len(chunk)) {
				chunk = chunk[:left]
			}
			n, err = rw.Write(chunk)
			w.bodyBytes.Add(int64(n))
		}
	}
}
