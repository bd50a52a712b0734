package returns

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/topics"
)

var (
	anonymous     = topics.Actor{ID: "anonymous", Type: topics.ActorCustomer}
	otherCustomer = topics.Actor{ID: "user_999", Type: topics.ActorCustomer}
)

// returnIn returns a return of customer user_123 in state s, driven there
// by staff and the saga (refund_failed and requires_action are set on a
// return that has been through complete, so its refund is computed).
func returnIn(t *testing.T, s State) *Return {
	t.Helper()
	_, r := newReturn(t, ReasonOther)
	switch s {
	case StatePending:
		return r
	case StateApproved:
		r, _ = apply(t, r, Approve{RefundMethod: RefundOriginalPayment, ApproverID: "s"}, staff)
		return r
	}
	r = received(t, ReasonOther, RefundOriginalPayment, ActualSellable)
	if s == StateReceived {
		return r
	}
	r, out := apply(t, r, Complete{}, staff)
	r, _ = apply(t, r, RefundResult{Reply{RequestID: requestOf(t, out, ServicePayments).ID, OK: true, TransactionID: "tx"}}, system)
	r.Status = s
	return r
}

// sameJSON requires a and b to encode alike.
func sameJSON(t *testing.T, a, b any) {
	t.Helper()
	ja, err := json.Marshal(a)
	require.NoError(t, err)
	jb, err := json.Marshal(b)
	require.NoError(t, err)
	require.JSONEq(t, string(ja), string(jb))
}

func TestAuthorizeCommands(t *testing.T) {
	staffOnly := []struct {
		name string
		in   State
		cmd  Command
	}{
		{"approve", StatePending, Approve{RefundMethod: RefundOriginalPayment, ApproverID: "s"}},
		{"reject", StatePending, Reject{Reason: "worn"}},
		{"ship", StateApproved, Ship{TrackingNumber: "1Z"}},
		{"receive", StateApproved, ReceiveItems{Items: []ReceivedItem{{LineItemID: "li_shirt", QuantityReceived: 1, ActualCondition: ActualSellable}}}},
		{"inspect", StateReceived, Inspect{Notes: "ok"}},
		{"complete", StateReceived, Complete{}},
		{"complete with a refund override", StateReceived, Complete{FinalRefundAmount: decP("1.00")}},
		{"retry_refund", StateRefundFailed, RetryRefund{}},
		{"retry_restock", StateRequiresAction, RetryRestock{}},
		{"resolve", StateRequiresAction, Resolve{Notes: "restocked by hand"}},
	}
	for _, tc := range staffOnly {
		t.Run(tc.name, func(t *testing.T) {
			for _, a := range []topics.Actor{customer, anonymous, otherCustomer} {
				r := returnIn(t, tc.in)
				before := r.Clone()
				got, out, err := Apply(r, tc.cmd, meta(tDelivered, a, "x"))
				require.ErrorIs(t, err, ErrForbidden, "%s as %s", tc.name, a.ID)
				require.Equal(t, topics.CodeForbidden, topics.AsError(err).Code)
				require.Same(t, r, got)
				sameJSON(t, before, r) // a refused command changes nothing
				require.Empty(t, out.Events)
				require.Empty(t, out.Requests)
			}
			for _, a := range []topics.Actor{staff, system} {
				r := returnIn(t, tc.in)
				next, _, err := Apply(r, tc.cmd, meta(tDelivered.Add(72*time.Hour), a, "x"))
				require.NoError(t, err, "%s as %s", tc.name, a.Type)
				last := next.Audit[len(next.Audit)-1]
				require.Equal(t, a.ID, last.ActorID, "the audit trail records the actor")
				require.Equal(t, a.Type, last.ActorType)
			}
		})
	}

	ownerOrStaff := []struct {
		name string
		in   State
		cmd  Command
	}{
		{"cancel pending", StatePending, Cancel{Reason: "kept it"}},
		{"cancel approved", StateApproved, Cancel{}},
		{"generate_shipping_label", StateApproved, GenerateLabel{}},
	}
	for _, tc := range ownerOrStaff {
		t.Run(tc.name, func(t *testing.T) {
			for _, a := range []topics.Actor{anonymous, otherCustomer} {
				r := returnIn(t, tc.in)
				_, _, err := Apply(r, tc.cmd, meta(tDelivered, a, "x"))
				require.ErrorIs(t, err, ErrForbidden, "%s as %s", tc.name, a.ID)
			}
			for _, a := range []topics.Actor{customer, staff, system} {
				r := returnIn(t, tc.in)
				next, _, err := Apply(r, tc.cmd, meta(tDelivered, a, "x"))
				require.NoError(t, err, "%s as %s", tc.name, a.ID)
				require.Equal(t, a.ID, next.Audit[len(next.Audit)-1].ActorID)
			}
		})
	}

	t.Run("forbidden comes before the state check", func(t *testing.T) {
		r := returnIn(t, StateCompleted)
		_, _, err := Apply(r, Approve{RefundMethod: RefundOriginalPayment}, meta(tDelivered, customer, "x"))
		require.ErrorIs(t, err, ErrForbidden)
	})
	t.Run("the refusal says who may not do what, in words", func(t *testing.T) {
		_, _, err := Apply(returnIn(t, StateApproved), GenerateLabel{}, meta(tDelivered, topics.Actor{ID: "u9", Type: topics.ActorCustomer}, "x"))
		require.ErrorIs(t, err, ErrForbidden)
		require.Contains(t, err.Error(), `customer "u9" is not allowed to generate shipping label on this return`)
	})
	t.Run("saga replies only from a system actor", func(t *testing.T) {
		r := received(t, ReasonOther, RefundOriginalPayment, ActualSellable)
		r, out := apply(t, r, Complete{}, staff)
		reply := RefundResult{Reply{RequestID: requestOf(t, out, ServicePayments).ID, OK: true, TransactionID: "tx"}}
		for _, a := range []topics.Actor{customer, staff} {
			_, _, err := Apply(r, reply, meta(tDelivered, a, "x"))
			require.ErrorIs(t, err, ErrForbidden, a.Type)
		}
		next, _, err := Apply(r, reply, meta(tDelivered, system, ""))
		require.NoError(t, err)
		require.Equal(t, StateRestocking, next.Status)
	})
}

func TestAuthorizeInitiate(t *testing.T) {
	req := InitiateRequest{ReturnID: "ret_a", OrderID: "order_1", Reason: ReasonOther,
		Items: []InitiateItem{{LineItemID: "li_shirt", Quantity: 1, Condition: ConditionNew}}}
	at := tDelivered.Add(48 * time.Hour)
	for _, tc := range []struct {
		name    string
		actor   topics.Actor
		allowed bool
	}{
		{"the order's customer", customer, true},
		{"staff on the customer's behalf", staff, true},
		{"a system actor", system, true},
		{"another customer", otherCustomer, false},
		{"the anonymous default", anonymous, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := orderState(t)
			before := s.Clone()
			r, err := s.Initiate(req, meta(at, tc.actor, "c"))
			if !tc.allowed {
				require.ErrorIs(t, err, ErrForbidden)
				require.Equal(t, before, s, "no units claimed")
				return
			}
			require.NoError(t, err)
			require.Equal(t, "user_123", r.CustomerID, "the return belongs to the order's customer, whoever initiated it")
			require.Equal(t, tc.actor.ID, r.Audit[0].ActorID)
			require.Equal(t, tc.actor.Type, r.Audit[0].ActorType)
		})
	}
}

func TestCanReadStoreCredit(t *testing.T) {
	r := returnIn(t, StateCompleted)
	for _, tc := range []struct {
		actor   topics.Actor
		allowed bool
	}{{customer, true}, {staff, true}, {otherCustomer, false}, {anonymous, false}, {system, false}} {
		t.Run(tc.actor.Type+"/"+tc.actor.ID, func(t *testing.T) {
			err := CanReadStoreCredit(r, tc.actor)
			if tc.allowed {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrForbidden)
			}
		})
	}
}

func TestStoreCreditIssued(t *testing.T) {
	sc, err := NewStoreCredit([]byte("store-credit-secret-for-unit-tests-0123"), []byte("gift-card-key-secret-for-unit-tests-01"))
	require.NoError(t, err)
	issued := func(t *testing.T, method string) *Return {
		t.Helper()
		r := received(t, ReasonOther, method, ActualSellable)
		r, out := apply(t, r, Complete{}, staff)
		var id string
		for _, rq := range out.Requests {
			if rq.Service == ServiceGiftCards || rq.Service == ServicePayments {
				id = rq.ID
			}
		}
		_, last4 := sc.Key(r.ID)
		r, _ = apply(t, r, RefundResult{Reply{RequestID: id, OK: true, TransactionID: "tx", GiftCardLast4: last4}}, system)
		return r
	}
	t.Run("the customer and staff get the code of the issued card", func(t *testing.T) {
		r := issued(t, RefundStoreCredit)
		for _, a := range []topics.Actor{customer, staff} {
			c, err := sc.Issued(r, a)
			require.NoError(t, err)
			require.Equal(t, sc.Code(r.ID), c.Code)
			require.Equal(t, r.Saga.GiftCardLast4, c.Last4)
			require.True(t, c.Amount.Amount.Equal(r.ActualRefund.TotalRefund))
		}
	})
	t.Run("other actors are refused", func(t *testing.T) {
		r := issued(t, RefundStoreCredit)
		for _, a := range []topics.Actor{otherCustomer, anonymous, system} {
			_, err := sc.Issued(r, a)
			require.ErrorIs(t, err, ErrForbidden)
		}
	})
	t.Run("not issued", func(t *testing.T) {
		refunding := received(t, ReasonOther, RefundStoreCredit, ActualSellable)
		refunding, _ = apply(t, refunding, Complete{}, staff)
		for name, r := range map[string]*Return{"refund pending": refunding, "paid to the card": issued(t, RefundOriginalPayment)} {
			_, err := sc.Issued(r, customer)
			require.ErrorIs(t, err, ErrStoreCreditNotIssued, name)
		}
	})
	t.Run("another secret never answers a wrong code", func(t *testing.T) {
		r := issued(t, RefundStoreCredit)
		other, err := NewStoreCredit([]byte("a-different-store-credit-secret-012345"), []byte("gift-card-key-secret-for-unit-tests-01"))
		require.NoError(t, err)
		_, err = other.Issued(r, customer)
		require.Error(t, err)
		require.Equal(t, topics.CodeInternal, topics.AsError(err).Code)
	})
}

func TestCanRead(t *testing.T) {
	r := returnIn(t, StateCompleted)
	for _, tc := range []struct {
		actor   topics.Actor
		allowed bool
	}{{customer, true}, {staff, true}, {system, true}, {otherCustomer, false}, {anonymous, false}} {
		t.Run(tc.actor.Type+"/"+tc.actor.ID, func(t *testing.T) {
			err := CanRead(tc.actor, r.CustomerID)
			if tc.allowed {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrForbidden)
				require.Equal(t, topics.CodeForbidden, topics.AsError(err).Code)
			}
		})
	}
	t.Run("no owner: only staff and system", func(t *testing.T) {
		require.ErrorIs(t, CanRead(topics.Actor{ID: "", Type: topics.ActorCustomer}, ""), ErrForbidden)
		require.NoError(t, CanRead(staff, ""))
	})
}
