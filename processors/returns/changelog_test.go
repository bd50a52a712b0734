package returns

import (
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// EncodeTableRow writes the binary row DecodeTableRow reads back.
func TestEncodeTableRow(t *testing.T) {
	r := completedRecord(t).Return
	b, err := EncodeTableRow(r)
	require.NoError(t, err)
	require.Equal(t, byte(0x01), b[0], "the binary format")
	got, err := DecodeTableRow(b)
	require.NoError(t, err)
	requireSameValue(t, "Return", reflect.ValueOf(r).Elem(), reflect.ValueOf(got).Elem())
}

// TestDecodeTableRow: DecodeTableRow reads every form the return processor
// has written to its table into the return the processor's views read, and
// refuses tombstones and garbage with its sentinels.
func TestDecodeTableRow(t *testing.T) {
	binary := func(t *testing.T) ([]byte, *Return) {
		t.Helper()
		rec := completedRecord(t)
		b, err := returnTableCodec{}.Encode(rec)
		require.NoError(t, err)
		return b, rec.Return
	}
	cases := []struct {
		name string
		// row is the value on the changelog and the return it holds (nil
		// for none)
		row     func(t *testing.T) ([]byte, *Return)
		wantErr error
	}{
		{name: "binary row of the table codec", row: binary},
		{name: "binary row written again from a loaded row (kept audit bytes)", row: func(t *testing.T) ([]byte, *Return) {
			t.Helper()
			first, _ := binary(t)
			v, err := returnTableCodec{}.Decode(first)
			require.NoError(t, err)
			rec := v.(*ReturnRecord)
			require.NoError(t, rec.load())
			next := rec.Return.Clone()
			next.appendAudit(meta(tDelivered, system, ""), ActionNotified, next.Status, map[string]any{"template": "x"})
			rec.Return = next
			b, err := returnTableCodec{}.Encode(rec)
			require.NoError(t, err)
			return b, next
		}},
		{name: "JSON row of an earlier version (stored)", row: func(t *testing.T) ([]byte, *Return) {
			t.Helper()
			b, err := os.ReadFile("testdata/return-record-json.json")
			require.NoError(t, err)
			v, err := returnRecordCodec{}.Decode(b)
			require.NoError(t, err)
			return b, v.(*ReturnRecord).Return
		}},
		{name: "JSON row of an earlier version (encoded)", row: func(t *testing.T) ([]byte, *Return) {
			t.Helper()
			rec := completedRecord(t)
			b, err := returnRecordCodec{}.Encode(rec)
			require.NoError(t, err)
			return b, rec.Return
		}},
		{name: "binary row without a return", row: func(t *testing.T) ([]byte, *Return) {
			t.Helper()
			b, err := returnTableCodec{}.Encode(&ReturnRecord{})
			require.NoError(t, err)
			return b, nil
		}},
		{name: "tombstone", row: func(*testing.T) ([]byte, *Return) { return nil, nil }, wantErr: ErrTableTombstone},
		{name: "empty value", row: func(*testing.T) ([]byte, *Return) { return []byte{}, nil }, wantErr: ErrTableTombstone},
		{name: "truncated binary row", row: func(t *testing.T) ([]byte, *Return) {
			t.Helper()
			b, _ := binary(t)
			return b[:len(b)/2], nil
		}, wantErr: ErrUndecodableRow},
		{name: "not JSON", row: func(*testing.T) ([]byte, *Return) { return []byte("{not json"), nil }, wantErr: ErrUndecodableRow},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			value, want := tc.row(t)
			got, err := DecodeTableRow(value)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.Nil(t, got)
				return
			}
			require.NoError(t, err)
			if want == nil {
				require.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			// what the processor's views read from the same bytes
			viewed, err := returnViewCodec{}.Decode(value)
			require.NoError(t, err)
			requireSameValue(t, "Return", reflect.ValueOf(viewed.(*ReturnRecord).Return).Elem(), reflect.ValueOf(got).Elem())
			require.Equal(t, seqs(want.Audit), seqs(got.Audit))
			require.Equal(t, want.Status, got.Status)
			// and it shares nothing with the value
			ref, err := DecodeTableRow(slices.Clone(value))
			require.NoError(t, err)
			clear(value)
			requireSameValue(t, "Return", reflect.ValueOf(ref).Elem(), reflect.ValueOf(got).Elem())
		})
	}
}

func seqs(trail []AuditEntry) []int {
	var out []int
	for _, e := range trail {
		out = append(out, e.Seq)
	}
	return slices.Clip(out)
}
