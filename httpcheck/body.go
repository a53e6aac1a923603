package httpcheck

import (
	"context"
	"io"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// DefaultBodyBudget is the size of the Budget that Checkers built without
// WithBudget share.
const DefaultBodyBudget = 64 << 20

// Budget bounds the memory that the checks sharing it hold for pages at
// once. Before reading a body a Check reserves what reading and scanning it
// may take (the body's length when the server declares it, else the
// campaign's max_body_bytes, plus what finding the title and keywords
// needs), and waits while the budget is spent — within its caller's context,
// not its own timeout, which counts only time on the network. So an
// instance's pages cost at most the budget however many campaigns run and
// whatever their concurrency (without it, 60 checks of 10 MiB gzip bombs
// took a process to 1.8 GB). A page whose reservation alone exceeds the
// budget is read up to what fits.
//
// A Budget is safe for use by many goroutines. The engine makes one for its
// process and gives it to every Checker with WithBudget.
type Budget struct {
	size int64
	sem  *semaphore.Weighted

	held atomic.Int64 // reserved now
	peak atomic.Int64 // the most ever reserved (tests read it)
}

// NewBudget returns a budget of size bytes (DefaultBodyBudget when size is
// not positive).
func NewBudget(size int64) *Budget {
	if size <= 0 {
		size = DefaultBodyBudget
	}
	return &Budget{size: size, sem: semaphore.NewWeighted(size)}
}

// Size returns the budget's bytes.
func (b *Budget) Size() int64 { return b.size }

// Held returns the bytes reserved now.
func (b *Budget) Held() int64 { return b.held.Load() }

// processBudget is the budget of Checkers built without WithBudget: one per
// process, so that even they cannot add up beyond it.
var processBudget = sync.OnceValue(func() *Budget { return NewBudget(DefaultBodyBudget) })

// WithBudget has the Checker's checks reserve the memory of their pages in b
// (default: a budget of DefaultBodyBudget shared by every Checker built
// without this option).
func WithBudget(b *Budget) Option {
	return func(c *Checker) {
		if b != nil {
			c.budget = b
		}
	}
}

// reserve waits until n bytes are free (n is at most b.size) or ctx ends,
// and takes them; release gives them back. Waiters are served in turn, so a
// large page is not passed over forever by small ones.
func (b *Budget) reserve(ctx context.Context, n int64) (release func(), err error) {
	if err := b.sem.Acquire(ctx, n); err != nil {
		return nil, err
	}
	h := b.held.Add(n)
	for p := b.peak.Load(); h > p; p = b.peak.Load() {
		if b.peak.CompareAndSwap(p, h) {
			break
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			b.held.Add(-n)
			b.sem.Release(n)
		})
	}, nil
}

// Pages are read into chunks of chunkSize bytes, recycled through
// chunkPool: a body never needs one contiguous buffer (which, grown by
// doubling as it fills, would cost up to twice its size and leave the old
// halves to the garbage collector).
const chunkSize = 32 << 10

var chunkPool = sync.Pool{New: func() any { return new([chunkSize]byte) }}

// Bounds of what finding the title and keywords holds besides the body.
const (
	// maxTitleToken is the longest HTML token (a script, a style, a
	// comment, a run of text) the title search reads past; a longer one
	// before the <title> ends the search without a title. Without a bound
	// the tokenizer would copy a page made of one huge token whole.
	maxTitleToken = 128 << 10
	// scanPiece is how much text the keyword search lowercases at a time.
	scanPiece = 16 << 10
	// decoderBytes covers a charset decoder's buffers and a regular
	// expression's reader.
	decoderBytes = 16 << 10
)

// scanBytes is what finding the title and keywords of a body of n bytes may
// hold besides the body: the tokenizer's buffer, which holds the longest
// token before the title (decoded text is at most 3 bytes a byte, and the
// buffer holds up to 3 times its token while it grows), or the keyword
// search's piece and its lowercase (up to 3 times longer), whichever is
// more; and a decoder's buffers.
func scanBytes(n int64) int64 {
	tokenizer := 3*min(3*n, maxTitleToken) + 4<<10
	keywords := 4 * min(n+4, scanPiece)
	return max(tokenizer, keywords) + decoderBytes
}

// maxScanBytes is scanBytes of any body.
const maxScanBytes = 3*maxTitleToken + 4<<10 + decoderBytes

// reservation returns the bytes to reserve for reading and scanning a body
// of at most want bytes.
func reservation(want int64) int64 {
	held := want
	if want > chunkSize {
		held = (want + chunkSize - 1) / chunkSize * chunkSize // whole chunks
	}
	return held + scanBytes(want)
}

// body is a page as read: at most its limit, in chunks.
type body struct {
	chunks    [][]byte // each full but the last
	n         int64
	truncated bool // the page went on past the limit
	pooled    []*[chunkSize]byte
}

// readBody reads at most limit bytes of r. length is the body's declared
// length (-1: unknown): when it is known no byte past it is awaited, and
// when it is over limit the page is truncated without reading on. Otherwise
// one byte past limit is read to tell a page of exactly limit bytes from a
// longer one. Reading never asks r for more than limit+1 bytes, so a
// compressed body is never decompressed further.
func readBody(r io.Reader, limit, length int64) (*body, error) {
	b := &body{}
	want := limit
	if length >= 0 && length < limit {
		want = length
	}
	for b.n < want {
		var buf []byte
		if size := want - b.n; size < chunkSize && b.n == 0 {
			buf = make([]byte, size) // a small page: its own size
		} else {
			p := chunkPool.Get().(*[chunkSize]byte)
			b.pooled = append(b.pooled, p)
			buf = p[:min(size, chunkSize)]
		}
		k, err := fill(r, buf)
		if k > 0 {
			b.chunks = append(b.chunks, buf[:k])
			b.n += int64(k)
		}
		if err == io.EOF {
			return b, nil // the end, before the limit
		}
		if err != nil {
			return b, err
		}
	}
	switch {
	case length >= 0:
		b.truncated = length > limit
	default:
		// Whatever goes wrong past the limit does not matter: the page
		// was read as far as it is scored.
		var one [1]byte
		k, _ := fill(r, one[:])
		b.truncated = k == 1
	}
	return b, nil
}

// free gives the body's chunks back for other pages; b is empty afterwards.
func (b *body) free() {
	for _, p := range b.pooled {
		chunkPool.Put(p)
	}
	*b = body{}
}

// prefix returns up to n of the body's first bytes (fewer only when the
// body is shorter: chunks are full but the last).
func (b *body) prefix(n int) []byte {
	if len(b.chunks) == 0 {
		return nil
	}
	c := b.chunks[0]
	return c[:min(n, len(c))]
}

// reader streams the body.
func (b *body) reader() io.Reader { return &chunkReader{chunks: b.chunks} }

type chunkReader struct {
	chunks [][]byte
	i, off int // the next byte: chunks[i][off]
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for r.i < len(r.chunks) && r.off == len(r.chunks[r.i]) {
		r.i, r.off = r.i+1, 0
	}
	if r.i == len(r.chunks) {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[r.i][r.off:])
	r.off += n
	return n, nil
}

// fill reads into buf until it is full or r fails; unlike io.ReadFull it
// returns io.EOF as such, to tell the end of a body from a body cut off
// (the Transport's io.ErrUnexpectedEOF).
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
