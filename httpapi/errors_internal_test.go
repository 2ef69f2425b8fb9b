package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestError_String: an *Error logged or wrapped reads "code: message".
func TestError_String(t *testing.T) {
	t.Parallel()
	err := fmtErr()
	if got := err.Error(); got != "bad_parameter: index must be a number, got \"x\"" {
		t.Errorf("Error() = %q", got)
	}
	if wrapped := errors.Join(errors.New("read"), err); wrapped.Error() != "read\nbad_parameter: index must be a number, got \"x\"" {
		t.Errorf("wrapped: %q", wrapped)
	}
}

func fmtErr() error {
	return errorf(http.StatusBadRequest, "bad_parameter", "index must be a number, got %q", "x")
}

// TestFromEchoError_Message: an echo error of another status keeps echo's message when it has
// one and says the status text when it has none (an empty or non-string message), with a code
// made of the status text.
func TestFromEchoError_Message(t *testing.T) {
	t.Parallel()
	c := echo.New().NewContext(httptest.NewRequest("GET", "/v1/runtimes", nil), httptest.NewRecorder())
	for _, tc := range []struct {
		msg  any
		want string
	}{
		{"", "Unauthorized"},
		{nil, "Unauthorized"},
		{42, "Unauthorized"},
		{"token expired", "token expired"},
	} {
		got := fromEchoError(&echo.HTTPError{Code: http.StatusUnauthorized, Message: tc.msg}, c)
		if got.Status != 401 || got.Code != "unauthorized" || got.Message != tc.want {
			t.Errorf("message %#v: %d %s %q, want %q", tc.msg, got.Status, got.Code, got.Message, tc.want)
		}
	}
	if got := fromEchoError(&echo.HTTPError{Code: http.StatusTeapot, Message: ""}, c); got.Code != "i'm_a_teapot" || got.Message != "I'm a teapot" {
		t.Errorf("418: %s %q", got.Code, got.Message)
	}
}
