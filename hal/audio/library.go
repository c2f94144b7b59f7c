package audio

import (
	"container/heap"
	"container/list"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
)

// Errors a Library's jobs can end with, besides the TTS's own.
var (
	ErrBusy          = errors.New("audio: speech queue full")
	ErrLibraryClosed = errors.New("audio: library closed")
)

// LibraryConfig configures a Library. Zero fields take the defaults
// noted.
type LibraryConfig struct {
	// TTS synthesises speech. Nil disables speech: every job fails at
	// once with an error wrapping ErrNoSpeech.
	TTS TTS
	// Workers is how many syntheses run at once. Default 2 (a Pi 5 has
	// four cores and espeak-ng uses one).
	Workers int
	// MaxBytes bounds the prepared speech kept, in bytes of samples.
	// Least recently used clips are evicted beyond it. Default 64 MiB,
	// about 25 minutes of 22,050 Hz speech.
	MaxBytes int64
	// MaxPending bounds the jobs waiting for a worker; Prepare beyond it
	// fails the job with ErrBusy. Default 1024.
	MaxPending int
	// Logger receives synthesis failures. Default: discard.
	Logger *slog.Logger
}

// A Request asks a Library to prepare one alert's speech in one language.
type Request struct {
	ID   string // the alert's record id
	Lang string // BCP 47 tag of Text
	Text string // what to say
	// Priority orders waiting jobs, highest first (the edge passes the
	// tier, so an emergency is not stuck behind informational chatter);
	// equal priorities run in arrival order.
	Priority int
}

// LibraryStats is what a Library reports for health.
type LibraryStats struct {
	Entries   int    `json:"entries"`              // clips held
	Bytes     int64  `json:"bytes"`                // their size
	MaxBytes  int64  `json:"max_bytes"`            // the bound
	Pending   int    `json:"pending"`              // jobs waiting for a worker
	Running   int    `json:"running"`              // jobs being synthesised
	Prepared  uint64 `json:"prepared"`             // syntheses that succeeded
	Failed    uint64 `json:"failed"`               // syntheses that failed
	Dropped   uint64 `json:"dropped"`              // jobs refused or abandoned: queue full, closed, cancelled
	Evicted   uint64 `json:"evicted"`              // clips evicted to stay under MaxBytes
	Hits      uint64 `json:"hits"`                 // Get calls that found a clip
	Misses    uint64 `json:"misses"`               // Get calls that did not
	LastError string `json:"last_error,omitempty"` // the latest synthesis failure, for health
}

// A Job is one Request being prepared. Prepare returns the same Job to
// every caller asking for the same alert and language while it runs.
type Job struct {
	req  Request
	key  string
	sum  uint64 // hash of the text
	ctx  context.Context
	seq  uint64
	idx  int // position in the queue heap, -1 when not queued
	done chan struct{}
	clip *Clip
	err  error
}

// Done is closed when the job has finished.
func (j *Job) Done() <-chan struct{} { return j.done }

// Wait blocks until the job has finished or ctx is done, and returns its
// result.
func (j *Job) Wait(ctx context.Context) (*Clip, error) {
	select {
	case <-j.done:
		return j.clip, j.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// entry is a prepared clip in the LRU list.
type entry struct {
	key string
	id  string
	sum uint64
	job *Job
}

// A Library prepares and keeps alert speech so that playback can start
// the moment an alert is shown, with no synthesis on the playback path
// and nothing fetched from the network. Prepare queues synthesis on a
// bounded pool of workers and never blocks; Get and Wait fetch the
// result. Memory is bounded by MaxBytes with least-recently-used
// eviction. A Library is safe for concurrent use.
type Library struct {
	cfg    LibraryConfig
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	cond    *sync.Cond
	closed  bool
	seq     uint64
	queue   jobQueue
	running int
	jobs    map[string]*Job          // queued or running, by key
	entries map[string]*list.Element // prepared, by key; values are *entry
	lru     *list.List               // front = most recently used
	bytes   int64
	stats   LibraryStats
}

// NewLibrary starts a Library's workers. Close stops them.
func NewLibrary(cfg LibraryConfig) *Library {
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 64 << 20
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 1024
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Library{cfg: cfg, jobs: map[string]*Job{}, entries: map[string]*list.Element{}, lru: list.New()}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.cond = sync.NewCond(&l.mu)
	for i := 0; i < cfg.Workers; i++ {
		l.wg.Add(1)
		go l.work()
	}
	return l
}

// libKey identifies one alert's speech in one language.
func libKey(id, lang string) string { return id + "\x00" + tagKey(lang) }

func textSum(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// Prepare queues r for synthesis and returns its Job at once; it never
// waits for synthesis. It is idempotent: when the same alert and language
// (and text) is already prepared or on its way, it returns that job. A
// new text for the same alert and language replaces the old speech. ctx
// bounds this job's synthesis and cancelling it abandons the job; when a
// call joins a job already under way, the first caller's ctx governs.
func (l *Library) Prepare(ctx context.Context, r Request) *Job {
	key := libKey(r.ID, r.Lang)
	sum := textSum(r.Text)
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.entries[key]; ok {
		e := el.Value.(*entry)
		if e.sum == sum {
			l.lru.MoveToFront(el)
			return e.job
		}
		l.remove(el)
	}
	if j, ok := l.jobs[key]; ok && j.sum == sum {
		return j
	}
	l.seq++
	j := &Job{req: r, key: key, sum: sum, ctx: ctx, seq: l.seq, idx: -1, done: make(chan struct{})}
	switch {
	case l.closed:
		l.stats.Dropped++
		l.finishLocked(j, nil, fmt.Errorf("audio: prepare %s/%s: %w", r.ID, r.Lang, ErrLibraryClosed))
		return j
	case l.cfg.TTS == nil:
		l.stats.Failed++
		l.finishLocked(j, nil, fmt.Errorf("audio: prepare %s/%s: %w: no TTS configured", r.ID, r.Lang, ErrNoSpeech))
		return j
	case l.queue.Len() >= l.cfg.MaxPending:
		l.stats.Dropped++
		l.finishLocked(j, nil, fmt.Errorf("audio: prepare %s/%s: %w (%d pending)", r.ID, r.Lang, ErrBusy, l.queue.Len()))
		return j
	}
	if old, ok := l.jobs[key]; ok && old.idx >= 0 { // a queued job for an older text
		heap.Remove(&l.queue, old.idx)
		l.finishLocked(old, nil, fmt.Errorf("audio: prepare %s/%s: replaced by a newer text", r.ID, r.Lang))
	}
	l.jobs[key] = j
	heap.Push(&l.queue, j)
	l.cond.Signal()
	return j
}

// Get returns the prepared speech for an alert in a language, if ready.
func (l *Library) Get(id, lang string) (*Clip, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.entries[libKey(id, lang)]
	if !ok {
		l.stats.Misses++
		return nil, false
	}
	l.stats.Hits++
	l.lru.MoveToFront(el)
	return el.Value.(*entry).job.clip, true
}

// Wait returns the speech for an alert in a language, waiting while it is
// being prepared. It fails at once if it was never asked for.
func (l *Library) Wait(ctx context.Context, id, lang string) (*Clip, error) {
	key := libKey(id, lang)
	l.mu.Lock()
	if el, ok := l.entries[key]; ok {
		l.stats.Hits++
		l.lru.MoveToFront(el)
		c := el.Value.(*entry).job.clip
		l.mu.Unlock()
		return c, nil
	}
	j, ok := l.jobs[key]
	l.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("audio: no speech prepared or preparing for %s/%s", id, lang)
	}
	return j.Wait(ctx)
}

// Forget drops an alert's speech in every language (after a cancel or
// expiry): prepared clips are removed, queued jobs fail, and running jobs
// finish but are not kept. It returns how many clips and jobs it dropped.
func (l *Library) Forget(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for key, el := range l.entries {
		if el.Value.(*entry).id == id {
			l.remove(el)
			delete(l.entries, key)
			n++
		}
	}
	for key, j := range l.jobs {
		if j.req.ID != id {
			continue
		}
		delete(l.jobs, key) // a running job still finishes, but is not kept
		if j.idx >= 0 {
			heap.Remove(&l.queue, j.idx)
			l.finishLocked(j, nil, fmt.Errorf("audio: prepare %s/%s: forgotten", j.req.ID, j.req.Lang))
		}
		n++
	}
	return n
}

// Stats reports the Library's state and counters.
func (l *Library) Stats() LibraryStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Entries = l.lru.Len()
	s.Bytes = l.bytes
	s.MaxBytes = l.cfg.MaxBytes
	s.Pending = l.queue.Len()
	s.Running = l.running
	return s
}

// Close cancels running syntheses, fails queued jobs with
// ErrLibraryClosed and waits for the workers to exit. Prepared clips stay
// readable.
func (l *Library) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	for l.queue.Len() > 0 {
		j := heap.Pop(&l.queue).(*Job)
		delete(l.jobs, j.key)
		l.stats.Dropped++
		l.finishLocked(j, nil, fmt.Errorf("audio: prepare %s/%s: %w", j.req.ID, j.req.Lang, ErrLibraryClosed))
	}
	l.cond.Broadcast()
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()
	return nil
}

func (l *Library) work() {
	defer l.wg.Done()
	for {
		l.mu.Lock()
		for l.queue.Len() == 0 && !l.closed {
			l.cond.Wait()
		}
		if l.closed {
			l.mu.Unlock()
			return
		}
		j := heap.Pop(&l.queue).(*Job)
		l.running++
		l.mu.Unlock()

		clip, err := l.synthesize(j)

		l.mu.Lock()
		l.running--
		l.complete(j, clip, err)
		l.mu.Unlock()
	}
}

// synthesize runs one job under both the Library's and the caller's
// context.
func (l *Library) synthesize(j *Job) (*Clip, error) {
	if err := j.ctx.Err(); err != nil {
		return nil, fmt.Errorf("audio: prepare %s/%s: abandoned before it ran: %w", j.req.ID, j.req.Lang, err)
	}
	ctx, cancel := context.WithCancel(l.ctx)
	defer cancel()
	stop := context.AfterFunc(j.ctx, cancel)
	defer stop()
	clip, err := l.cfg.TTS.Synthesize(ctx, j.req.Lang, j.req.Text)
	if err != nil {
		return nil, fmt.Errorf("audio: prepare %s/%s: %w", j.req.ID, j.req.Lang, err)
	}
	if err := clip.Validate(); err != nil {
		return nil, fmt.Errorf("audio: prepare %s/%s: TTS returned %w", j.req.ID, j.req.Lang, err)
	}
	return clip, nil
}

// complete records a finished job: a success joins the LRU (unless a
// newer job has replaced it), a failure is counted for health. l.mu must
// be held.
func (l *Library) complete(j *Job, clip *Clip, err error) {
	current := l.jobs[j.key] == j
	if current {
		delete(l.jobs, j.key)
	}
	if err != nil && (j.ctx.Err() != nil || l.closed) {
		// Abandoned by its caller or by Close: not a speech fault.
		l.stats.Dropped++
		l.finishLocked(j, nil, err)
		return
	}
	if err != nil {
		l.stats.Failed++
		l.stats.LastError = err.Error()
		l.cfg.Logger.Warn("speech not prepared", "component", "audio", "id", j.req.ID, "lang", j.req.Lang, "err", err)
		l.finishLocked(j, nil, err)
		return
	}
	l.stats.Prepared++
	l.finishLocked(j, clip, nil)
	if !current || l.closed {
		return
	}
	if size := clip.Size(); size > l.cfg.MaxBytes {
		l.stats.LastError = fmt.Sprintf("audio: speech for %s/%s is %d bytes, over the library bound of %d; not kept", j.req.ID, j.req.Lang, size, l.cfg.MaxBytes)
		return
	}
	l.entries[j.key] = l.lru.PushFront(&entry{key: j.key, id: j.req.ID, sum: j.sum, job: j})
	l.bytes += clip.Size()
	for l.bytes > l.cfg.MaxBytes {
		el := l.lru.Back()
		l.remove(el)
		delete(l.entries, el.Value.(*entry).key)
		l.stats.Evicted++
	}
}

// remove takes el out of the LRU list and the byte count; the caller
// deletes it from l.entries. l.mu must be held.
func (l *Library) remove(el *list.Element) {
	e := el.Value.(*entry)
	l.lru.Remove(el)
	l.bytes -= e.job.clip.Size()
	if l.entries[e.key] == el {
		delete(l.entries, e.key)
	}
}

// finishLocked sets a job's result and wakes its waiters.
func (l *Library) finishLocked(j *Job, clip *Clip, err error) {
	j.clip, j.err = clip, err
	close(j.done)
}

// jobQueue is a heap of jobs: highest priority first, then oldest.
type jobQueue []*Job

func (q jobQueue) Len() int { return len(q) }
func (q jobQueue) Less(a, b int) bool {
	if q[a].req.Priority != q[b].req.Priority {
		return q[a].req.Priority > q[b].req.Priority
	}
	return q[a].seq < q[b].seq
}
func (q jobQueue) Swap(a, b int) {
	q[a], q[b] = q[b], q[a]
	q[a].idx, q[b].idx = a, b
}
func (q *jobQueue) Push(x any) {
	j := x.(*Job)
	j.idx = len(*q)
	*q = append(*q, j)
}
func (q *jobQueue) Pop() any {
	old := *q
	j := old[len(old)-1]
	old[len(old)-1] = nil
	j.idx = -1
	*q = old[:len(old)-1]
	return j
}
