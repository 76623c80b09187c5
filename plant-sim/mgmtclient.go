package plantsim

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/icsrange/icsrange/plant-sim/capture"
)

// MgmtClient drives a PLC in another process through its management API,
// as the engine does for PLCs that Terraform or Docker started. It keeps
// the values of the last advance, so reading costs no round trip.
type MgmtClient struct {
	base  string
	token string
	hc    *http.Client

	mu   sync.Mutex
	last Values
	have bool
}

// NewMgmtClient returns a client for the management API at addr (host:port).
func NewMgmtClient(addr, token string) *MgmtClient {
	return &MgmtClient{base: "http://" + addr, token: token, hc: &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute},
	}}
}

// do makes a request and decodes a JSON reply into out (if not nil).
func (c *MgmtClient) do(ctx context.Context, method, path, ctype string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("plc mgmt %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
		return &statusError{status: resp.StatusCode, msg: fmt.Sprintf("plc mgmt %s %s: %s: %s", method, path, resp.Status, e.Error.Message)}
	}
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if w, ok := out.(io.Writer); ok {
		_, err := io.Copy(w, io.LimitReader(resp.Body, maxSnapshot))
		return err
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 32<<20)).Decode(out)
}

// statusError is a management API answer other than 200 OK.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func (c *MgmtClient) post(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, path, "application/json", bytes.NewReader(b), out)
}

// Apply applies an effect.
func (c *MgmtClient) Apply(ctx context.Context, e Effect) error {
	return c.post(ctx, "/v1/effects", e, nil)
}

// Advance runs the PLC to exercise time t and keeps its values.
func (c *MgmtClient) Advance(ctx context.Context, t time.Duration) error {
	var v Values
	if err := c.post(ctx, "/v1/advance", map[string]int64{"to_ms": t.Milliseconds()}, &v); err != nil {
		return err
	}
	c.mu.Lock()
	c.last, c.have = v, true
	c.mu.Unlock()
	return nil
}

// Read gives the values of the last advance (fetching them the first time).
func (c *MgmtClient) Read(v *Values) error {
	c.mu.Lock()
	have := c.have
	c.mu.Unlock()
	if !have {
		var fresh Values
		if err := c.do(context.Background(), http.MethodGet, "/v1/values", "", nil, &fresh); err != nil {
			return err
		}
		c.mu.Lock()
		c.last, c.have = fresh, true
		c.mu.Unlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v.Truth = append(v.Truth[:0], c.last.Truth...)
	v.Reported = append(v.Reported[:0], c.last.Reported...)
	v.Override = append(v.Override[:0], c.last.Override...)
	v.Mode, v.Program, v.Checksum, v.ScanCount, v.Uptime, v.CommLoss = c.last.Mode, c.last.Program, c.last.Checksum, c.last.ScanCount, c.last.Uptime, c.last.CommLoss
	if v.Faults == nil {
		v.Faults = map[string]float64{}
	}
	clear(v.Faults)
	for k, f := range c.last.Faults {
		v.Faults[k] = f
	}
	return nil
}

// Health returns the PLC's health document.
func (c *MgmtClient) Health(ctx context.Context) (Health, error) {
	var h Health
	err := c.do(ctx, http.MethodGet, "/v1/health", "", nil, &h)
	return h, err
}

// Save fetches the PLC's state.
func (c *MgmtClient) Save(ctx context.Context) (*Snapshot, error) {
	var buf bytes.Buffer
	if err := c.do(ctx, http.MethodGet, "/v1/snapshot", "", nil, &buf); err != nil {
		return nil, err
	}
	var s Snapshot
	if err := gob.NewDecoder(&buf).Decode(&s); err != nil {
		return nil, fmt.Errorf("decode plc snapshot: %w", err)
	}
	return &s, nil
}

// Restore loads a state into the PLC.
func (c *MgmtClient) Restore(ctx context.Context, s *Snapshot) error {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(s); err != nil {
		return err
	}
	c.mu.Lock()
	c.have = false
	c.mu.Unlock()
	return c.do(ctx, http.MethodPut, "/v1/snapshot", "application/octet-stream", &buf, nil)
}

// Capture fetches the records after seq.
func (c *MgmtClient) Capture(ctx context.Context, after uint64) (Capture, error) {
	var out Capture
	err := c.do(ctx, http.MethodGet, "/v1/capture?after="+strconv.FormatUint(after, 10), "", nil, &out)
	return out, err
}

// Attribute tells the PLC who a connection really is.
func (c *MgmtClient) Attribute(ctx context.Context, remote, source, note string) error {
	return c.post(ctx, "/v1/attribute", map[string]string{"remote": remote, "source": source, "note": note}, nil)
}

// Packets fetches up to max captured packets after seq (max 0: the PLC's
// default page). A PLC that captures nothing answers capture.ErrOff.
func (c *MgmtClient) Packets(ctx context.Context, after uint64, max int) (capture.Page, error) {
	path := "/v1/packets?after=" + strconv.FormatUint(after, 10)
	if max > 0 {
		path += "&max=" + strconv.Itoa(max)
	}
	var out capture.Page
	err := c.do(ctx, http.MethodGet, path, "", nil, &out)
	var se *statusError
	if errors.As(err, &se) && se.status == http.StatusNotFound {
		// Also what a PLC from before /v1/packets answers.
		return capture.Page{}, fmt.Errorf("%w: %v", capture.ErrOff, err)
	}
	return out, err
}
