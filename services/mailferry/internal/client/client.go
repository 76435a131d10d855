// Package client is the mailferry API client the CLI uses. It speaks the
// same public JSON API as scripts and the console, nothing more.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client calls the API at BaseURL with an API key.
type Client struct {
	BaseURL string
	Key     string
	HTTP    *http.Client
}

// New returns a client.
func New(baseURL, key string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Key: key, HTTP: &http.Client{Timeout: 2 * time.Minute}}
}

// APIError is an error answer of the API.
type APIError struct {
	Status int
	Code   string `json:"code"`
	Cause  string `json:"cause"`
	Action string `json:"action"`
	Field  string `json:"field"`
	// Body is the whole answer, which may carry row errors or a run.
	Body json.RawMessage
}

func (e *APIError) Error() string {
	s := e.Code + ": "
	if e.Field != "" {
		s += e.Field + ": "
	}
	s += e.Cause
	if e.Action != "" {
		s += " (" + e.Action + ")"
	}
	return s
}

// Do sends a request. body may be nil, a []byte sent as text/csv, or a
// value sent as JSON. The raw answer is returned for 2xx statuses.
func (c *Client) Do(ctx context.Context, method, path string, body any) (json.RawMessage, int, error) {
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, ctype = bytes.NewReader(b), "text/csv"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, 0, err
		}
		rd, ctype = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, 0, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot reach the mailferry API at %s: %w (is `mailferry up` running? set MAILFERRY_API_URL)", c.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		var env struct {
			Error *APIError `json:"error"`
		}
		if json.Unmarshal(data, &env) == nil && env.Error != nil {
			env.Error.Status, env.Error.Body = resp.StatusCode, data
			return data, resp.StatusCode, env.Error
		}
		return data, resp.StatusCode, &APIError{Status: resp.StatusCode, Code: "http_" + fmt.Sprint(resp.StatusCode), Cause: strings.TrimSpace(string(data)), Body: data}
	}
	return data, resp.StatusCode, nil
}

// JSON sends a request and decodes a 2xx answer into out.
func (c *Client) JSON(ctx context.Context, method, path string, body, out any) error {
	data, _, err := c.Do(ctx, method, path, body)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = data
		return nil
	}
	return json.Unmarshal(data, out)
}
