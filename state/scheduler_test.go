package state

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
)

// fakeDB is a pebble.DBForCompaction whose allowed concurrency and waiting
// compactions the test sets; Schedule records the grants.
type fakeDB struct {
	mu      sync.Mutex
	allowed int
	waiting int // compactions waiting for a grant
	grants  []pebble.CompactionGrantHandle
}

func (d *fakeDB) GetAllowedWithoutPermission() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.allowed
}

func (d *fakeDB) GetWaitingCompaction() (bool, pebble.WaitingCompaction) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.waiting > 0, pebble.WaitingCompaction{}
}

func (d *fakeDB) Schedule(h pebble.CompactionGrantHandle) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.waiting == 0 {
		return false
	}
	d.waiting--
	d.grants = append(d.grants, h)
	return true
}

func (d *fakeDB) set(allowed, waiting int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.allowed, d.waiting = allowed, waiting
}

func (d *fakeDB) granted() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.grants)
}

// register returns a registered scheduler of c for a new fakeDB.
func register(t *testing.T, c *compactionScheduler, allowed int) (*dbScheduler, *fakeDB) {
	t.Helper()
	db := &fakeDB{allowed: allowed}
	s := c.newDB()
	s.Register(2, db)
	t.Cleanup(s.Unregister)
	return s, db
}

// requireGranterStops waits until c's granter goroutine has exited.
func requireGranterStops(t *testing.T, c *compactionScheduler) {
	t.Helper()
	require.Eventually(t, func() bool {
		granting, waiting := c.state()
		return !granting && waiting == 0
	}, 5*time.Second, time.Millisecond)
}

func TestCompactionSchedulerConcurrencyLimit(t *testing.T) {
	c := newCompactionScheduler(time.Millisecond)
	s, db := register(t, c, 2)

	ok1, h1 := s.TrySchedule()
	ok2, h2 := s.TrySchedule()
	require.True(t, ok1)
	require.True(t, ok2)
	require.NotNil(t, h1)
	require.NotNil(t, h2)
	granting, _ := c.state()
	require.False(t, granting, "no database waits: no granter goroutine")

	// At the limit: refused, and the database now waits for a grant.
	db.set(2, 1)
	ok, h := s.TrySchedule()
	require.False(t, ok)
	require.Nil(t, h)
	require.True(t, c.isWaiting(s))

	// A compaction ends: the waiting one is granted at once.
	h1.Done()
	require.Equal(t, 1, db.granted())

	// Nothing waits any more: the periodic granter finds that out and stops.
	h2.Done()
	requireGranterStops(t, c)
}

func TestCompactionSchedulerPeriodicGrant(t *testing.T) {
	tests := []struct {
		name string
		// raise makes the limit rise without a compaction ending.
		raise func(s *dbScheduler, db *fakeDB)
	}{
		{"limit rises by itself (backlog)", func(_ *dbScheduler, db *fakeDB) { db.set(2, 1) }},
		{"limit rises after a flush", func(s *dbScheduler, db *fakeDB) {
			db.set(2, 1)
			s.UpdateGetAllowedWithoutPermission()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCompactionScheduler(time.Millisecond)
			s, db := register(t, c, 1)
			ok, running := s.TrySchedule()
			require.True(t, ok)
			db.set(1, 1)
			ok, _ = s.TrySchedule()
			require.False(t, ok)

			tt.raise(s, db)
			require.Eventually(t, func() bool { return db.granted() == 1 }, 5*time.Second, time.Millisecond,
				"the periodic granter grants the waiting compaction")
			running.Done()
			db.grants[0].Done()
			requireGranterStops(t, c)
		})
	}
}

func TestCompactionSchedulerSharedGranter(t *testing.T) {
	c := newCompactionScheduler(time.Millisecond)
	const n = 50
	scheds := make([]*dbScheduler, n)
	dbs := make([]*fakeDB, n)
	for i := range n {
		scheds[i], dbs[i] = register(t, c, 0)
	}
	granting, _ := c.state()
	require.False(t, granting, "idle databases need no goroutine")

	// Every database is refused; one granter serves them all.
	for i := range n {
		dbs[i].set(0, 1)
		ok, _ := scheds[i].TrySchedule()
		require.False(t, ok)
	}
	granting, waiting := c.state()
	require.True(t, granting)
	require.Equal(t, n, waiting)
	for i := range n {
		dbs[i].set(1, 1)
	}
	require.Eventually(t, func() bool {
		for _, db := range dbs {
			if db.granted() != 1 {
				return false
			}
		}
		return true
	}, 5*time.Second, time.Millisecond)
	for _, db := range dbs {
		db.grants[0].Done()
	}
	requireGranterStops(t, c)
}

func TestCompactionSchedulerUnregister(t *testing.T) {
	c := newCompactionScheduler(time.Millisecond)
	s, db := register(t, c, 0)
	db.set(0, 1)
	ok, _ := s.TrySchedule()
	require.False(t, ok)

	s.Unregister()
	_, waiting := c.state()
	require.Zero(t, waiting)
	db.set(1, 1)
	ok, _ = s.TrySchedule()
	require.False(t, ok, "an unregistered scheduler grants nothing")
	requireGranterStops(t, c)
	require.Zero(t, db.granted())

	s.Unregister() // again: a failed open abandons a scheduler the DB may have unregistered
}

// TestCompactionSchedulerRealCompactions runs Pebble's compactions through
// the shared scheduler: L0 files pile up on several databases and get
// compacted, and the granter is gone once they are done.
func TestCompactionSchedulerRealCompactions(t *testing.T) {
	dir := t.TempDir()
	build, err := NewBuilder(dir, append(testOpts, WithMemTableSize(256<<10),
		WithPebbleOptions(func(o *pebble.Options) { o.L0CompactionThreshold = 2 }))...)
	require.NoError(t, err)

	const partitions = 3
	var dbs []*pebble.DB
	for p := range int32(partitions) {
		st, err := build("compactions", p)
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		require.NoError(t, st.MarkRecovered())
		db := st.(*store).db
		for f := range 8 { // 8 flushes: 8 overlapping L0 files
			for k := range 200 {
				require.NoError(t, st.Set(fmt.Sprintf("key-%03d", k), []byte(fmt.Sprintf("value-%d-%d", f, k))))
			}
			require.NoError(t, db.Flush())
		}
		dbs = append(dbs, db)
	}
	for i, db := range dbs {
		require.Eventually(t, func() bool {
			m := db.Metrics()
			return m.Compact.Count > 0 && m.Levels[0].TablesCount < 2 && m.Compact.NumInProgress == 0
		}, 30*time.Second, 10*time.Millisecond, "partition %d: L0 compacted", i)
	}
	require.Eventually(t, func() bool {
		granting, waiting := compactions.state()
		return !granting && waiting == 0
	}, 5*time.Second, time.Millisecond, "no database waits once compactions are done")

	st, err := build("compactions", 0)
	require.Error(t, err, "partition 0 is open")
	require.Nil(t, st)
	_, waiting := compactions.state()
	require.Zero(t, waiting, "a failed open leaves no scheduler behind")
}
