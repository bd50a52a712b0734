package binrow

import (
	"bytes"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

func TestIDRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   string
		size int // encoded size
	}{
		{"uuid", "0194f6c2-7a3b-7c4d-8e5f-0123456789ab", 17},
		{"hmac hex", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", 34},
		{"upper-case uuid kept as it is", "0194F6C2-7A3B-7C4D-8E5F-0123456789AB", 38},
		{"odd-length hex kept as it is", "abc", 5},
		{"empty", "", 2},
		{"order id", "order-123", 11},
		{"uuid-shaped, not hex", "0194f6c2-7a3b-7c4d-8e5f-0123456789ag", 38},
		{"unicode", "commande-été", 2 + len("commande-été")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := AppendID(nil, tc.id)
			require.Len(t, b, tc.size)
			r := NewReader(b)
			require.Equal(t, tc.id, r.ID())
			require.NoError(t, r.Done())
			// SkipID ends where ID does.
			r = NewReader(append(b, 0x2a))
			r.SkipID()
			require.Equal(t, byte(0x2a), r.Byte())
			require.NoError(t, r.Done())
		})
	}
}

func TestIDsRoundTrip(t *testing.T) {
	for _, ids := range [][]string{nil, {"0194f6c2-7a3b-7c4d-8e5f-0123456789ab", "order-1", "ab"}} {
		r := NewReader(AppendIDs(nil, ids))
		require.Equal(t, ids, r.IDs())
		require.NoError(t, r.Done())
	}
}

func TestDecimalRoundTripKeepsCoefficientAndExponent(t *testing.T) {
	huge, _ := new(big.Int).SetString("-123456789012345678901234567890", 10)
	for _, tc := range []struct {
		name string
		d    decimal.Decimal
	}{
		{"cents", decimal.RequireFromString("12.34")},
		{"trailing zero", decimal.New(150, -2)},
		{"negative", decimal.RequireFromString("-0.01")},
		{"zero", decimal.Zero},
		{"zero value", decimal.Decimal{}},
		{"kwd", decimal.RequireFromString("1.005")},
		{"max int64 coefficient", decimal.New(999999999999999999, -2)},
		{"big coefficient", decimal.NewFromBigInt(huge, -4)},
		{"positive exponent", decimal.New(5, 3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(AppendDecimal(nil, tc.d))
			got := r.Decimal()
			require.NoError(t, r.Done())
			require.True(t, tc.d.Equal(got), "%s != %s", tc.d, got)
			require.Equal(t, tc.d.Exponent(), got.Exponent())
			require.Equal(t, tc.d.Coefficient().String(), got.Coefficient().String())
		})
	}
}

func TestTimeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    time.Time
	}{
		{"utc with nanoseconds", time.Date(2026, 12, 1, 4, 5, 6, 789012345, time.UTC)},
		{"zero", time.Time{}},
		{"before the epoch", time.Date(1969, 7, 20, 20, 17, 40, 1, time.UTC)},
		{"fixed offset", time.Date(2026, 3, 1, 9, 0, 0, 0, time.FixedZone("", 5*3600+30*60))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(AppendTime(nil, tc.t))
			got := r.Time()
			require.NoError(t, r.Done())
			require.True(t, tc.t.Equal(got))
			require.Equal(t, tc.t.Format(time.RFC3339Nano), got.Format(time.RFC3339Nano))
			if _, off := tc.t.Zone(); off == 0 {
				require.Equal(t, tc.t, got, "a UTC time reads back identical")
			}
		})
	}
}

func TestRowOfFields(t *testing.T) {
	b := []byte{0x01}
	b = AppendString(b, "key")
	b = AppendUvarint(b, 300)
	b = AppendVarint(b, -7)
	b = AppendBool(b, true)
	b = AppendBytes(b, []byte(`{"a":1}`))
	r := NewReader(b)
	require.Equal(t, byte(0x01), r.Byte())
	require.Equal(t, "key", r.String())
	require.Equal(t, uint64(300), r.Uvarint())
	require.Equal(t, int64(-7), r.Varint())
	require.True(t, r.Bool())
	require.Equal(t, []byte(`{"a":1}`), r.Bytes())
	require.NoError(t, r.Done())
}

func TestIntern(t *testing.T) {
	b := AppendString(AppendString(nil, "active"), "unknown")
	r := NewReader(b)
	require.Equal(t, "active", r.Intern("voided", "active"))
	require.Equal(t, "unknown", r.Intern("voided", "active"))
	require.NoError(t, r.Done())
	allocs := testing.AllocsPerRun(100, func() {
		NewReader(b).Intern("voided", "active")
	})
	require.Zero(t, allocs, "a known value is not allocated")
}

func TestReaderErrors(t *testing.T) {
	t.Run("truncated string", func(t *testing.T) {
		b := AppendString(nil, "hello")
		r := NewReader(b[:4])
		require.Equal(t, "", r.String())
		require.ErrorIs(t, r.Err(), ErrCorrupt)
	})
	t.Run("count larger than the row", func(t *testing.T) {
		r := NewReader(AppendUvarint(nil, 1<<40))
		require.Zero(t, r.Count(8))
		require.ErrorIs(t, r.Err(), ErrCorrupt)
	})
	t.Run("first error sticks", func(t *testing.T) {
		r := NewReader([]byte{7}) // an unknown ID form
		require.Equal(t, "", r.ID())
		require.Zero(t, r.Uvarint())
		require.ErrorContains(t, r.Err(), "unknown ID form 7")
	})
	t.Run("skipping what ID cannot read", func(t *testing.T) {
		uuid := AppendID(nil, "0194f6c2-7a3b-7c4d-8e5f-0123456789ab")
		for name, b := range map[string][]byte{
			"unknown form": {7},
			"short UUID":   uuid[:10],
			"empty hex":    {idHex, 0},
			"truncated":    AppendID(nil, "order-123")[:5],
		} {
			r, s := NewReader(b), NewReader(b)
			require.Empty(t, r.ID(), name)
			s.SkipID()
			require.Error(t, s.Err(), name)
			require.Equal(t, r.Err().Error(), s.Err().Error(), name)
		}
	})
	t.Run("trailing bytes", func(t *testing.T) {
		r := NewReader(append(AppendBool(nil, false), 0))
		require.False(t, r.Bool())
		require.ErrorIs(t, r.Done(), ErrCorrupt)
	})
	t.Run("bad time offset", func(t *testing.T) {
		b := AppendVarint(AppendUvarint(AppendVarint(nil, 0), 0), 90000)
		r := NewReader(b)
		r.Time()
		require.ErrorIs(t, r.Err(), ErrCorrupt)
	})
	t.Run("unknown decimal form", func(t *testing.T) {
		r := NewReader([]byte{9, 0, 0})
		r.Decimal()
		require.ErrorContains(t, r.Err(), "unknown decimal form 9")
	})
}

func FuzzReaderNeverPanics(f *testing.F) {
	f.Add(AppendDecimal(AppendID(AppendTime(nil, time.Unix(1, 2)), "0194f6c2-7a3b-7c4d-8e5f-0123456789ab"), decimal.New(1, -2)))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(b)
		r.Time()
		r.ID()
		r.SkipID()
		r.Decimal()
		r.Bytes()
		_ = r.Done()
	})
}

func FuzzIDRoundTrip(f *testing.F) {
	for _, s := range []string{"0194f6c2-7a3b-7c4d-8e5f-0123456789ab", "9f86d0", "order-1", "", "ab", "0194f6c2-7a3b-7c4d-8e5f-0123456789aZ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := NewReader(AppendID(nil, s))
		if got := r.ID(); got != s {
			t.Fatalf("%q read back as %q", s, got)
		}
		if err := r.Done(); err != nil {
			t.Fatal(err)
		}
	})
}

// Encode's rows own their bytes at their size, while the next rows are
// built in the same pooled buffer; an error returns no row.
func TestEncode(t *testing.T) {
	appendN := func(b []byte, n int) ([]byte, error) {
		if n < 0 {
			return b, errors.New("negative")
		}
		return append(b, bytes.Repeat([]byte{byte(n)}, n)...), nil
	}
	large, err := Encode(3000, appendN)
	require.NoError(t, err)
	small, err := Encode(5, appendN)
	require.NoError(t, err)
	_, err = Encode(4000, appendN)
	require.NoError(t, err)
	require.Equal(t, bytes.Repeat([]byte{byte(3000 % 256)}, 3000), large)
	require.Equal(t, bytes.Repeat([]byte{5}, 5), small)
	require.LessOrEqual(t, cap(large), 3000+3000/8, "no spare capacity beyond the allocator's size class")
	row, err := Encode(-1, appendN)
	require.EqualError(t, err, "negative")
	require.Nil(t, row)
}
