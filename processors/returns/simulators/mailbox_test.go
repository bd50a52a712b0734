package simulators

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMailbox: the simulated notification service keeps each return's
// notifications in the order they were sent, for its last size returns.
func TestMailbox(t *testing.T) {
	tests := []struct {
		name string
		sent [][2]string // return, template
		size int
		want map[string][]string
	}{
		{name: "in order, per return", size: 4,
			sent: [][2]string{{"r1", "return_approved"}, {"r2", "return_approved"}, {"r1", "return_completed"}},
			want: map[string][]string{"r1": {"return_approved", "return_completed"}, "r2": {"return_approved"}, "r3": nil}},
		{name: "the oldest return is forgotten first", size: 2,
			sent: [][2]string{{"r1", "a"}, {"r2", "a"}, {"r1", "b"}, {"r3", "a"}},
			want: map[string][]string{"r1": nil, "r2": {"a"}, "r3": {"a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMailbox(tt.size)
			for _, s := range tt.sent {
				m.add(s[0], s[1])
			}
			for id, want := range tt.want {
				require.Equal(t, want, m.get(id), id)
			}
			require.LessOrEqual(t, len(m.sent), tt.size)
		})
	}
	t.Run("what get answers is a copy", func(t *testing.T) {
		m := newMailbox(2)
		m.add("r1", "a")
		got := m.get("r1")
		got[0] = "changed"
		require.Equal(t, []string{"a"}, m.get("r1"))
	})
	t.Run("bounded over many returns", func(t *testing.T) {
		m := newMailbox(8)
		for i := range 100 {
			m.add(fmt.Sprintf("r%d", i), "a")
		}
		require.Len(t, m.sent, 8)
		require.Equal(t, []string{"a"}, m.get("r99"))
		require.Nil(t, m.get("r91"))
	})
}
