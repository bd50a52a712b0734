package views

import (
	"errors"
	"net/http"
	"time"

	"github.com/shopstream/streams/processors/returns"
	"github.com/shopstream/streams/topics"
)

// HTTP statuses of the returns error codes.
var _ = registerReturnStatuses()

func registerReturnStatuses() bool {
	for code, status := range map[string]int{
		returns.CodeOrderNotFound:        http.StatusNotFound,
		returns.CodeReturnNotFound:       http.StatusNotFound,
		returns.CodeReturnWindowExpired:  http.StatusUnprocessableEntity,
		returns.CodeItemNotReturnable:    http.StatusUnprocessableEntity,
		returns.CodeInvalidQuantity:      http.StatusUnprocessableEntity,
		returns.CodeItemsNotReceived:     http.StatusConflict,
		returns.CodeInvalidState:         http.StatusConflict,
		returns.CodeRefundFailed:         http.StatusBadGateway,
		returns.CodeStoreCreditNotIssued: http.StatusConflict,
	} {
		RegisterStatus(code, status)
	}
	return true
}

// ReturnsReader reads returns and order eligibility from the returns
// service's views (*returns.Service).
type ReturnsReader interface {
	Return(id string) (*returns.Return, error)
	// OrderEligibility also answers the order's customer ID.
	OrderEligibility(orderID string, at time.Time) (returns.EligibilityResult, string, error)
	// StoreCredit derives store-credit codes; nil when not configured.
	StoreCredit() *returns.StoreCredit
}

// Returns is the returns HTTP API: commands go through the command path,
// reads come from the returns service's views.
type Returns struct {
	cmds   *Commands
	reader ReturnsReader
	now    func() time.Time
}

// NewReturns builds the returns API.
func NewReturns(cmds *Commands, reader ReturnsReader) (*Returns, error) {
	if cmds == nil || reader == nil {
		return nil, errors.New("views: returns need the command path and a reader")
	}
	return &Returns{cmds: cmds, reader: reader, now: time.Now}, nil
}

// Register adds the returns routes to s.
func (a *Returns) Register(s *Server) {
	s.HandleFunc("POST /v1/returns", a.initiate)
	s.HandleFunc("GET /v1/returns/{id}", a.get)
	s.HandleFunc("GET /v1/returns/{id}/store-credit", a.storeCredit)
	s.HandleFunc("GET /v1/orders/{id}/return-eligibility", a.eligibility)
	for _, rt := range []struct {
		path, typ string
		body      func() any
	}{
		{"approve", returns.TypeApprove, func() any { return &returns.Approve{} }},
		{"reject", returns.TypeReject, func() any { return &returns.Reject{} }},
		{"receive", returns.TypeReceive, func() any { return &returns.ReceiveItems{} }},
		{"complete", returns.TypeComplete, func() any { return &returns.Complete{} }},
		{"cancel", returns.TypeCancel, func() any { return &returns.Cancel{} }},
		{"ship", returns.TypeShip, func() any { return &returns.Ship{} }},
		{"inspect", returns.TypeInspect, func() any { return &returns.Inspect{} }},
		{"shipping-label", returns.TypeLabel, nil},
		{"retry-refund", returns.TypeRetryRefund, nil},
		{"retry-restock", returns.TypeRetryRestock, nil},
		{"resolve", returns.TypeResolve, func() any { return &returns.Resolve{} }},
	} {
		s.HandleFunc("POST /v1/returns/{id}/"+rt.path, func(w http.ResponseWriter, r *http.Request) {
			var body any = map[string]any{}
			if rt.body != nil {
				body = rt.body()
			}
			a.send(w, r, topics.ReturnsCommands, r.PathValue("id"), rt.typ, body, rt.body != nil, http.StatusOK)
		})
	}
}

// send decodes the body (when decode and there is one: every field of
// these commands is optional or checked by the processor), and submits the
// command.
func (a *Returns) send(w http.ResponseWriter, r *http.Request, topic, key, typ string, body any, decode bool, ok int) {
	var into any
	if decode && r.ContentLength != 0 {
		into = body
	}
	id, actor, valid := CommandRequest(w, r, into)
	if !valid {
		return
	}
	env, err := topics.NewEnvelope(typ, a.now(), body, topics.WithCommandID(id), topics.WithActor(actor))
	if err != nil {
		WriteError(w, r, err)
		return
	}
	a.cmds.Submit(w, r, topic, key, env, ok)
}

func (a *Returns) initiate(w http.ResponseWriter, r *http.Request) {
	var body returns.InitiateRequest
	if err := DecodeJSON(r, &body); err != nil {
		WriteError(w, r, err)
		return
	}
	if body.OrderID == "" {
		WriteError(w, r, topics.ErrInvalidRequest.Withf("order_id is required"))
		return
	}
	a.send(w, r, topics.ReturnsOrders, body.OrderID, returns.TypeInitiate, &body, false, http.StatusCreated)
}

// get answers a return to its customer, staff and system actors; any other
// actor gets 403 forbidden (returns.CanRead). An unknown return is a 404
// for everybody: return IDs are not secrets, so telling "exists but not
// yours" from "does not exist" reveals nothing worth hiding.
func (a *Returns) get(w http.ResponseWriter, r *http.Request) {
	actor, err := ActorFrom(r)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	ret, err := a.reader.Return(r.PathValue("id"))
	if err == nil {
		err = returns.CanRead(actor, ret.CustomerID)
	}
	if err != nil {
		WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, ret)
}

// eligibility answers which items of an order can be returned — what the
// customer bought — to the order's customer, staff and system actors, like
// get.
func (a *Returns) eligibility(w http.ResponseWriter, r *http.Request) {
	actor, err := ActorFrom(r)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	res, owner, err := a.reader.OrderEligibility(r.PathValue("id"), a.now())
	if err == nil {
		err = returns.CanRead(actor, owner)
	}
	if err != nil {
		WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, res)
}

// storeCredit answers the clear code of a return's store-credit gift card
// to the return's customer or staff, once the card was issued. The code is
// derived here from the secret for this answer only: it is in no topic, no
// table and no log line, and the answer must not be cached.
func (a *Returns) storeCredit(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	actor, err := ActorFrom(r)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	credit := a.reader.StoreCredit()
	if credit == nil {
		WriteError(w, r, topics.NewError(topics.CodeUnavailable, "store credit is not configured"))
		return
	}
	ret, err := a.reader.Return(r.PathValue("id"))
	if err != nil {
		WriteError(w, r, err)
		return
	}
	issued, err := credit.Issued(ret, actor)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, issued)
}
