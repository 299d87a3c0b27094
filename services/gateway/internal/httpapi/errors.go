package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"kubently.io/libs/contracts"
)

// writeError answers with the JSON error body and the code's HTTP status.
func writeError(c echo.Context, err error) error {
	e := contracts.AsError(err)
	if e.Code == contracts.CodeUnauthorized && c.Response().Header().Get("WWW-Authenticate") == "" {
		c.Response().Header().Set("WWW-Authenticate", `ApiKey header="`+contracts.HeaderAPIKey+`"`)
	}
	return c.JSON(e.Code.Status(), e)
}

// errorHandler turns echo's own errors (404 route, 405, body limit) into
// the JSON error shape.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code := contracts.CodeBadRequest
		switch he.Code {
		case http.StatusNotFound:
			code = contracts.CodeNotFound
		case http.StatusMethodNotAllowed:
			code = contracts.CodeMethodNotAllowed
		case http.StatusRequestEntityTooLarge:
			code = contracts.CodeBodyTooLarge
		case http.StatusUnauthorized:
			code = contracts.CodeUnauthorized
		case http.StatusServiceUnavailable:
			code = contracts.CodeUnavailable
		default:
			if he.Code >= 500 {
				code = contracts.CodeInternal
			}
		}
		msg := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok && m != "" {
			msg = m
		}
		_ = c.JSON(he.Code, &contracts.Error{Code: code, Message: msg})
		return
	}
	e := contracts.AsError(err)
	if e.Code == contracts.CodeInternal {
		s.log.Error("internal error", "err", err, "path", c.Path())
		e = contracts.Errorf(contracts.CodeInternal, "internal error")
	}
	_ = writeError(c, e)
}

// decodeBody reads a JSON body strictly (bounded, no unknown fields unless
// lenient, no trailing data) into v.
func decodeBody(c echo.Context, v any, lenient bool) error {
	return decodeBodyLimit(c, v, lenient, contracts.MaxBodyBytes)
}

// decodeBodyLimit is decodeBody with its own size limit, for routes whose
// body is a few fields.
func decodeBodyLimit(c echo.Context, v any, lenient bool, limit int64) error {
	r := http.MaxBytesReader(c.Response(), c.Request().Body, limit)
	dec := json.NewDecoder(r)
	if !lenient {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return contracts.Errorf(contracts.CodeBodyTooLarge, "request body larger than %d bytes", limit)
		}
		if isTimeout(err) {
			return bodyTimeout(c)
		}
		if errors.Is(err, io.EOF) {
			return contracts.Errorf(contracts.CodeInvalidJSON, "empty request body; want a JSON object")
		}
		return contracts.Errorf(contracts.CodeInvalidJSON, "malformed JSON body: %v", err)
	}
	if dec.More() {
		return contracts.Errorf(contracts.CodeInvalidJSON, "malformed JSON body: trailing data after the object")
	}
	// Drain to detect an oversized tail after a valid object.
	if _, err := io.Copy(io.Discard, r); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return contracts.Errorf(contracts.CodeBodyTooLarge, "request body larger than %d bytes", limit)
		}
		if isTimeout(err) {
			return bodyTimeout(c)
		}
	}
	return nil
}

// bodyTimeout is the 408 of a body that did not arrive within the read
// timeout; the connection is closed after it.
func bodyTimeout(c echo.Context) error {
	c.Response().Header().Set("Connection", "close")
	return contracts.Errorf(contracts.CodeRequestTimeout, "request body not received in time")
}
