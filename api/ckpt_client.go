package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// CheckpointFile opens one file of job id's committed checkpoint at step
// (a shard, or the manifest) as the answering node holds it; a
// *StatusError with code 404 means that node holds no copy. The caller
// closes the body and checks its size and SHA-256 against the record. The
// download is bounded by ctx only, not by the client's request timeout.
func (c *Client) CheckpointFile(ctx context.Context, id string, step int64, name string) (io.ReadCloser, error) {
	path := jobPath(id, "/checkpoints/"+strconv.FormatInt(step, 10)+"/files/"+url.PathEscape(name))
	hc := *c.hc
	hc.Timeout = 0 // a shard of a large model takes longer than a request
	resp, err := c.sendWith(ctx, &hc, http.MethodGet, path, nil, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var eb ErrorBody
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(b))
		}
		return nil, &StatusError{Code: resp.StatusCode, Message: eb.Error}
	}
	return resp.Body, nil
}
