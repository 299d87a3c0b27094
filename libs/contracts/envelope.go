package contracts

import (
	"encoding/json"
	"fmt"
)

// NewResponse wraps v in a Response of the given type.
func NewResponse(typ string, v any) (Response, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Response{}, fmt.Errorf("contracts: marshal %s: %w", typ, err)
	}
	return Response{Type: typ, Data: b}, nil
}

// ErrorResponse wraps an error in a Response.
func ErrorResponse(err error) Response {
	return Response{Error: AsError(err)}
}

// Decode unpacks a Response of type typ into v. An error reply comes back as
// its *Error; a type mismatch is an internal error.
func Decode(data []byte, typ string, v any) error {
	var r Response
	if err := json.Unmarshal(data, &r); err != nil {
		return Errorf(CodeInternal, "malformed reply: %v", err)
	}
	if r.Error != nil {
		return r.Error
	}
	if r.Type != typ {
		return Errorf(CodeInternal, "reply type %q; want %q", r.Type, typ)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		return Errorf(CodeInternal, "malformed %s: %v", typ, err)
	}
	return nil
}
