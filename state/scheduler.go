package state

import (
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// compactionGrantInterval is how often a database that is waiting for a
// compaction grant is looked at again, as pebble.ConcurrencyLimitScheduler's
// periodic granter does.
const compactionGrantInterval = 100 * time.Millisecond

// compactions is the compaction scheduler of every database this package
// opens (unless WithPebbleOptions sets another one).
var compactions = newCompactionScheduler(compactionGrantInterval)

// compactionScheduler gives the databases of a process one periodic granter
// that runs only while one of them waits for a compaction grant.
//
// Pebble's default, pebble.ConcurrencyLimitScheduler, serves one database
// (its Register keeps a single DBForCompaction and its Unregister takes
// none, so it cannot be shared) and runs a goroutine with a 100 ms ticker
// for as long as the database is open. With one database per table
// partition, an idle process with 128 databases woke up 1,280 times a
// second for those tickers alone (docs/operations.md, Idle CPU).
//
// Each database gets its own dbScheduler, which grants exactly what
// pebble.ConcurrencyLimitScheduler grants: up to
// DBForCompaction.GetAllowedWithoutPermission concurrent compactions, on
// TrySchedule, Done, UpdateGetAllowedWithoutPermission and periodically.
// There is no limit across databases, as before. Only the periodic part
// differs: it exists because a database whose TrySchedule was refused
// stops asking (its compaction waits in its pickedCompactionCache) and the
// limit may rise without a Done (after a flush, or as the backlog grows).
// A database only starts waiting through a refused TrySchedule, and stops
// when GetWaitingCompaction or Schedule finds nothing to run; the periodic
// granter visits exactly the databases in between, every 100 ms, and its
// goroutine exits when there are none.
//
// Lock order (Pebble's rule: a scheduler's mutexes come after the DB's):
// DB mutex, then dbScheduler.mu, then compactionScheduler.mu.
type compactionScheduler struct {
	interval time.Duration

	mu sync.Mutex
	// waiting holds the databases a TrySchedule was refused to and that
	// may still wait for a grant.
	waiting map[*dbScheduler]struct{}
	// granting is set while the periodic granter goroutine runs; it runs
	// exactly while waiting is not empty (it clears granting when it sees
	// waiting empty, under mu).
	granting bool
	// poke makes the granter visit the waiting databases at once.
	poke chan struct{}
}

func newCompactionScheduler(interval time.Duration) *compactionScheduler {
	return &compactionScheduler{
		interval: interval,
		waiting:  make(map[*dbScheduler]struct{}),
		poke:     make(chan struct{}, 1),
	}
}

// newDB returns the pebble.CompactionScheduler of one database. It must be
// registered by at most one database (pebble.Open does so); if pebble.Open
// fails, abandon it.
func (c *compactionScheduler) newDB() *dbScheduler {
	s := &dbScheduler{shared: c}
	s.mu.isGrantingCond = sync.NewCond(&s.mu.Mutex)
	return s
}

// markWaiting records that s was refused a grant and starts the periodic
// granter if it is not running.
func (c *compactionScheduler) markWaiting(s *dbScheduler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waiting[s] = struct{}{}
	if !c.granting {
		c.granting = true
		go c.grantLoop()
	}
}

// unmarkWaiting removes s from the waiting databases.
func (c *compactionScheduler) unmarkWaiting(s *dbScheduler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.waiting, s)
}

// isWaiting reports whether s is among the waiting databases.
func (c *compactionScheduler) isWaiting(s *dbScheduler) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.waiting[s]
	return ok
}

// wake makes a running granter visit the waiting databases now.
func (c *compactionScheduler) wake() {
	select {
	case c.poke <- struct{}{}:
	default:
	}
}

// state reports whether the granter goroutine runs and how many databases
// wait (for tests).
func (c *compactionScheduler) state() (granting bool, waiting int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.granting, len(c.waiting)
}

// grantLoop is the periodic granter: every interval (or when poked) it
// offers grants to the waiting databases, and it returns when none waits.
func (c *compactionScheduler) grantLoop() {
	ticker := time.NewTicker(c.interval)
	defer ticker.Stop()
	var dbs []*dbScheduler
	for {
		select {
		case <-ticker.C:
		case <-c.poke:
		}
		c.mu.Lock()
		if len(c.waiting) == 0 {
			c.granting = false
			c.mu.Unlock()
			return
		}
		dbs = dbs[:0]
		for s := range c.waiting {
			dbs = append(dbs, s)
		}
		c.mu.Unlock()
		for _, s := range dbs {
			s.mu.Lock()
			s.tryGrantLockedAndUnlock()
		}
		clear(dbs)
	}
}

// dbScheduler is the pebble.CompactionScheduler (and the
// pebble.CompactionGrantHandle) of one database. Its granting logic is
// pebble.ConcurrencyLimitScheduler's; see compactionScheduler.
type dbScheduler struct {
	shared *compactionScheduler
	// db is set in Register, strictly before any call to the other methods.
	db pebble.DBForCompaction
	mu struct {
		sync.Mutex
		runningCompactions int
		// unregistered turns true once, in Unregister.
		unregistered bool
		// isGranting serializes granting from Done and from the periodic
		// granter, and lets Unregister wait for granting to stop.
		isGranting                   bool
		isGrantingCond               *sync.Cond
		lastAllowedWithoutPermission int
		// refusals counts refused TrySchedule calls, so that a granter that
		// found the database not waiting does not forget a refusal that came
		// after it looked.
		refusals uint64
	}
}

var (
	_ pebble.CompactionScheduler   = (*dbScheduler)(nil)
	_ pebble.CompactionGrantHandle = (*dbScheduler)(nil)
)

// Register implements pebble.CompactionScheduler.
func (s *dbScheduler) Register(_ int, db pebble.DBForCompaction) {
	s.db = db
}

// Unregister implements pebble.CompactionScheduler: once it returns, the
// scheduler calls the database no more.
func (s *dbScheduler) Unregister() {
	s.mu.Lock()
	s.mu.unregistered = true
	for s.mu.isGranting {
		s.mu.isGrantingCond.Wait()
	}
	s.mu.Unlock()
	s.shared.unmarkWaiting(s)
}

// abandon releases a scheduler whose database failed to open: pebble.Open
// may have registered it without unregistering it.
func (s *dbScheduler) abandon() {
	s.Unregister()
}

// TrySchedule implements pebble.CompactionScheduler. It is called with the
// database's mutex held.
func (s *dbScheduler) TrySchedule() (bool, pebble.CompactionGrantHandle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.unregistered {
		return false, nil
	}
	s.mu.lastAllowedWithoutPermission = s.db.GetAllowedWithoutPermission()
	if s.mu.lastAllowedWithoutPermission > s.mu.runningCompactions {
		s.mu.runningCompactions++
		return true, s
	}
	// The database now keeps the compaction it picked and waits to be
	// offered a grant (DB.Schedule).
	s.mu.refusals++
	s.shared.markWaiting(s)
	return false, nil
}

// UpdateGetAllowedWithoutPermission implements pebble.CompactionScheduler.
// It is called with the database's mutex held, so granting happens on the
// granter goroutine, as in pebble.ConcurrencyLimitScheduler.
func (s *dbScheduler) UpdateGetAllowedWithoutPermission() {
	s.mu.Lock()
	allowed := s.db.GetAllowedWithoutPermission()
	tryGrant := allowed > s.mu.lastAllowedWithoutPermission
	s.mu.lastAllowedWithoutPermission = allowed
	s.mu.Unlock()
	// Only a waiting database has anything to be granted; a database that
	// does not wait asks with TrySchedule when it has a compaction.
	if tryGrant && s.shared.isWaiting(s) {
		s.shared.wake()
	}
}

// Started implements pebble.CompactionGrantHandle.
func (s *dbScheduler) Started() {}

// MeasureCPU implements pebble.CompactionGrantHandle.
func (s *dbScheduler) MeasureCPU(pebble.CompactionGoroutineKind) {}

// CumulativeStats implements pebble.CompactionGrantHandle.
func (s *dbScheduler) CumulativeStats(pebble.CompactionGrantHandleStats) {}

// Done implements pebble.CompactionGrantHandle: a granted compaction ended.
func (s *dbScheduler) Done() {
	s.mu.Lock()
	s.mu.runningCompactions--
	s.tryGrantLockedAndUnlock()
}

// tryGrantLockedAndUnlock offers the database as many grants as its limit
// allows. It is called with s.mu held and returns with it released. When
// the database turns out not to wait, and no TrySchedule was refused since
// it looked, the database leaves the waiting set.
func (s *dbScheduler) tryGrantLockedAndUnlock() {
	defer s.mu.Unlock()
	if s.mu.unregistered {
		return
	}
	for s.mu.isGranting {
		s.mu.isGrantingCond.Wait()
	}
	// INVARIANT: !isGranting.
	if s.mu.unregistered {
		return
	}
	s.mu.lastAllowedWithoutPermission = s.db.GetAllowedWithoutPermission()
	toGrant := s.mu.lastAllowedWithoutPermission - s.mu.runningCompactions
	if toGrant <= 0 {
		return
	}
	s.mu.isGranting = true
	refusals := s.mu.refusals
	s.mu.Unlock()
	// GetWaitingCompaction and Schedule take the database's mutex: s.mu
	// must not be held. Call GetWaitingCompaction only when a grant can be
	// made, so that no picked compaction is wasted.
	notWaiting := false
	for toGrant > 0 {
		if waiting, _ := s.db.GetWaitingCompaction(); !waiting {
			notWaiting = true
			break
		}
		if !s.db.Schedule(s) {
			// Schedule refuses only when the database does not wait (any
			// more) or found nothing to run, and then it stopped waiting.
			notWaiting = true
			break
		}
		s.mu.Lock()
		s.mu.runningCompactions++
		toGrant--
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.mu.isGranting = false
	s.mu.isGrantingCond.Broadcast()
	if notWaiting && s.mu.refusals == refusals {
		s.shared.unmarkWaiting(s)
	}
}
