package command

import "github.com/shopstream/streams/processors/gokavisit"

// ErrVisitsClosed is gokavisit.ErrClosed (the gate moved to
// processors/gokavisit). It stays only while processors/returns/timeout.go
// still names it; delete it once that file returns gokavisit.ErrClosed.
var ErrVisitsClosed = gokavisit.ErrClosed
