package returns

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lovoo/goka"

	"github.com/shopstream/streams/processors/gokavisit"
	"github.com/shopstream/streams/topics"
)

// TypeSagaTimeout is the system-only command that gives up waiting for
// the reply to one of the saga's outstanding requests (a refund, a
// restock or a shipping label). It travels on ReturnsReplies, keyed by return ID, because it
// stands in for the reply: the return processor treats it exactly as a
// failed reply to the request it names, so the saga retries (under the same
// refund or restock key, which the other service honours once) or, after
// the maximum attempts, parks the return in refund_failed or
// requires_action; a label request that times out is a failed label
// (label_failed: a new one is asked for with generate_shipping_label, and
// a late success still sets the label). A timeout for a request that is no longer outstanding
// (answered, or retried already) changes nothing, like a late reply. Sent
// by any actor but a system actor, it goes to the DLQ as forbidden.
const TypeSagaTimeout = "return.saga_timeout"

// ActionSagaTimeout authorizes return.saga_timeout (system only). It is no
// transition of its own: the timeout applies as the failed reply.
const ActionSagaTimeout Action = "saga_timeout"

// DefaultSagaTimeout is how long the saga waits for a reply before the
// ticker times the request out.
const DefaultSagaTimeout = 2 * time.Minute

// DefaultSagaTimeoutInterval is how often the ticker looks for requests
// that waited too long.
const DefaultSagaTimeoutInterval = 10 * time.Second

// visitSagaTimeouts names the visitor the saga timeout ticker runs over the
// return table.
const visitSagaTimeouts = "saga-timeouts"

// SagaTimeout is the payload of return.saga_timeout.
type SagaTimeout struct {
	RequestID string `json:"request_id"`
}

// Action implements Command.
func (c SagaTimeout) Action() Action { return ActionSagaTimeout }

func (c SagaTimeout) apply(r *Return, m Meta) (Outcome, error) {
	failed := Reply{RequestID: c.RequestID, ReturnID: r.ID, Error: fmt.Sprintf("no reply to request %s (saga timeout)", c.RequestID)}
	switch {
	case c.RequestID == "":
		return Outcome{}, ErrStaleReply
	case r.Status == StateRefunding && c.RequestID == r.Saga.RefundRequestID:
		return RefundResult{failed}.apply(r, m)
	case r.Status == StateRestocking && c.RequestID == r.Saga.RestockRequestID:
		return RestockResult{failed}.apply(r, m)
	case r.labelOutstanding() && c.RequestID == r.Saga.LabelRequestID:
		r.Saga.LabelTimedOut = true
		return LabelResult{failed}.apply(r, m)
	}
	return Outcome{}, ErrStaleReply
}

// labelOutstanding reports whether r waits for the reply to a label
// request that has a send time (records from before label timeouts have
// none and are never timed out).
func (r *Return) labelOutstanding() bool {
	return r.Saga.LabelRequestID != "" && !r.Saga.LabelAnswered && !r.Saga.LabelRequestedAt.IsZero() &&
		Can(r.Status, ActionLabelFailed)
}

// Outstanding names the saga request r waits for (a refund, a restock or
// a shipping label)
// and when it was sent; ok is false when it waits for none.
func (r *Return) Outstanding() (requestID string, sentAt time.Time, ok bool) {
	switch {
	case r.Status == StateRefunding && r.Saga.RefundRequestID != "" && !r.Saga.RefundRequestedAt.IsZero():
		return r.Saga.RefundRequestID, r.Saga.RefundRequestedAt, true
	case r.Status == StateRestocking && r.Saga.RestockRequestID != "" && !r.Saga.RestockRequestedAt.IsZero():
		return r.Saga.RestockRequestID, r.Saga.RestockRequestedAt, true
	case r.labelOutstanding():
		return r.Saga.LabelRequestID, r.Saga.LabelRequestedAt, true
	}
	return "", time.Time{}, false
}

// visitTimeouts runs over every return this instance owns when the ticker
// fires, with the tick's time as meta: a return whose outstanding request
// is older than the timeout gets a return.saga_timeout stamped with the
// tick's time, so the change itself is an ordinary, replayable message.
func (s *Service) visitTimeouts(ctx goka.Context, meta any) {
	tick, ok := meta.(time.Time)
	if !ok {
		return
	}
	rec, _ := ctx.Value().(*ReturnRecord)
	if rec == nil {
		return
	}
	id, sent, ok, err := rec.outstanding()
	if err != nil {
		ctx.Fail(err)
	}
	if !ok || tick.Sub(sent) < s.cfg.sagaTimeout {
		return
	}
	env, err := topics.NewEnvelope(TypeSagaTimeout, tick, SagaTimeout{RequestID: id}, topics.WithCorrelationID(ctx.Key()),
		topics.WithActor(topics.Actor{ID: "returns-saga-timeout", Type: topics.ActorSystem}))
	if err != nil {
		ctx.Fail(err)
	}
	b, err := env.Encode()
	if err != nil {
		ctx.Fail(err)
	}
	ctx.Emit(goka.Stream(topics.ReturnsReplies), ctx.Key(), b)
}

// TimeOutDue visits every return this instance owns and sends
// return.saga_timeout, stamped at, for each outstanding refund, restock or
// label request sent more than the saga timeout before at. The ticker calls it
// with the wall clock; tests call it with a chosen time. It answers how
// many returns it visited.
func (s *Service) TimeOutDue(ctx context.Context, at time.Time) (int64, error) {
	if !s.visits.Enter() {
		return 0, gokavisit.ErrClosed
	}
	defer s.visits.Leave()
	return s.returnProc.VisitAllWithStats(ctx, visitSagaTimeouts, at.UTC())
}

// tickTimeouts runs TimeOutDue every interval with the wall-clock time:
// the ticker is an edge, like the HTTP API, and the time it stamps is the
// one the saga uses.
func (s *Service) tickTimeouts(ctx context.Context) error {
	t := time.NewTicker(s.cfg.sagaTimeoutInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			if !s.returnProc.Recovered() {
				continue
			}
			if _, err := s.TimeOutDue(ctx, now); err != nil && !errors.Is(err, context.Canceled) {
				s.cfg.logger.Warn("returns saga timeout visit failed", "err", err)
			}
		}
	}
}
