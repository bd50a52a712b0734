package returns

import (
	"errors"
	"fmt"

	"github.com/lovoo/goka"
)

// ReturnTable is the return processor's group table: goka's compacted
// changelog topic of the return table (returns.return-processor-table),
// keyed by return ID, whose values are the rows DecodeTableRow reads. Each
// action on a return writes the return's whole row, audit trail included,
// so the latest row of a return (all compaction keeps) holds its whole
// trail.
var ReturnTable = goka.GroupTable(ReturnsGroup)

// ErrTableTombstone is what DecodeTableRow returns for an empty value: a
// tombstone (goka's delete), which holds no row. The return processor
// deletes no return, so a reader of the changelog sees none but by
// mistake.
var ErrTableTombstone = errors.New("returns: a tombstone (empty value) of the return table: no row")

// ErrUndecodableRow wraps why DecodeTableRow could not decode a value.
var ErrUndecodableRow = errors.New("returns: undecodable row of the return table")

// DecodeTableRow decodes a value of the return processor's table, as its
// changelog topic (ReturnTable) carries it, into the return the row holds
// (nil, with no error, for a row that holds none).
//
// The contract: it reads every row format the return processor has written
// to its table — the binary form (format byte 0x01, rowcodec.go) and the
// JSON form of earlier versions — with the decoder of the processor's own
// views (the trail GET /v1/returns/{id} serves is the one it returns), and
// a format the processor writes in the future is added here with its
// encoder (the table codec tests decode every format through it). What it
// returns is the caller's: it shares nothing with value or the processor.
// An empty value is ErrTableTombstone; a value it cannot decode is an error
// wrapping ErrUndecodableRow.
func DecodeTableRow(value []byte) (*Return, error) {
	if len(value) == 0 {
		return nil, ErrTableTombstone
	}
	rec, err := decodeReturnRecord(value)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUndecodableRow, err)
	}
	if rec == nil {
		return nil, nil
	}
	return rec.Return, nil
}

// EncodeTableRow is the row the return processor writes to its table for
// r (with an empty command ledger): the current binary form, which
// DecodeTableRow reads back. For tests and tools that write what a reader
// of the changelog consumes; the processor itself writes through its
// table codec.
func EncodeTableRow(r *Return) ([]byte, error) {
	return returnTableCodec{}.Encode(&ReturnRecord{Return: r})
}
