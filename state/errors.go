package state

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed is returned (possibly wrapped in an *OpError) by every
	// operation on a storage, and by iterators, after the storage has been
	// closed. Test for it with errors.Is.
	ErrClosed = errors.New("state: storage closed")

	// ErrIteratorReleased is returned by Iterator.Err after the iterator has
	// been released, mirroring goleveldb's iterator semantics.
	ErrIteratorReleased = errors.New("state: iterator released")

	// ErrInvalidConfig is matched (errors.Is) by every error caused by an
	// invalid Option, an invalid path or an invalid topic name passed to the
	// builder.
	ErrInvalidConfig = errors.New("state: invalid configuration")

	// ErrCorruptOffset is matched (errors.Is) by the error returned when the
	// stored offset cannot be decoded.
	ErrCorruptOffset = errors.New("state: corrupt stored offset")
)

// OpError describes a failed storage operation. It wraps the underlying
// cause, which can be inspected with errors.Is and errors.As (for example
// errors.Is(err, ErrClosed)).
type OpError struct {
	// Op is the operation that failed, e.g. "open", "get", "set",
	// "mark-recovered".
	Op string
	// Path is the directory of the Pebble database.
	Path string
	// Key is the user key involved, if any.
	Key string
	// Err is the underlying error.
	Err error
}

// Error implements the error interface.
func (e *OpError) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("state: %s %q in %s: %v", e.Op, e.Key, e.Path, e.Err)
	}
	return fmt.Sprintf("state: %s %s: %v", e.Op, e.Path, e.Err)
}

// Unwrap returns the underlying error.
func (e *OpError) Unwrap() error { return e.Err }

func opErr(op, path, key string, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{Op: op, Path: path, Key: key, Err: err}
}
