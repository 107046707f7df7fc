package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// complete makes one model call (with retries) and returns the assistant
// message and the tokens it used.
func (l *LLM) complete(ctx context.Context, msgs []openai.ChatCompletionMessage, tools []openai.Tool, step int) (openai.ChatCompletionMessage, int, error) {
	seed := l.cfg.Seed
	req := openai.ChatCompletionRequest{
		Model: l.cfg.Model, Messages: msgs, Tools: tools, ToolChoice: "auto",
		Temperature: l.cfg.Temperature, Seed: &seed, Stream: l.cfg.Stream,
	}
	backoff := l.cfg.RetryBase
	for attempt := 0; ; attempt++ {
		var msg openai.ChatCompletionMessage
		var tokens int
		var err error
		if l.cfg.Stream {
			req.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
			msg, tokens, err = l.stream(ctx, req, step)
		} else {
			var resp openai.ChatCompletionResponse
			resp, err = l.client.CreateChatCompletion(ctx, req)
			if err == nil {
				if len(resp.Choices) == 0 {
					return msg, resp.Usage.TotalTokens, errors.New("llm: response without choices")
				}
				msg, tokens = resp.Choices[0].Message, resp.Usage.TotalTokens
			}
		}
		if err == nil {
			msg.Role = openai.ChatMessageRoleAssistant
			return msg, tokens, nil
		}
		if attempt >= l.cfg.Retries || !retryable(err) || ctx.Err() != nil {
			return msg, tokens, fmt.Errorf("llm call (step %d, attempt %d): %w", step, attempt+1, err)
		}
		l.progress("step %d: model call failed (%v); retrying in %v", step, shortErr(err), backoff)
		select {
		case <-ctx.Done():
			return msg, tokens, ctx.Err()
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// retryable: rate limits, server errors and connection failures.
func retryable(err error) bool {
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	switch {
	case errors.As(err, &apiErr):
		return apiErr.HTTPStatusCode == http.StatusTooManyRequests || apiErr.HTTPStatusCode >= 500
	case errors.As(err, &reqErr):
		return reqErr.HTTPStatusCode == http.StatusTooManyRequests || reqErr.HTTPStatusCode >= 500 || reqErr.HTTPStatusCode == 0
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	// Transport errors (connection refused or reset).
	return true
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

// stream makes a streamed call, assembling content and tool-call deltas,
// and reports progress as text arrives.
func (l *LLM) stream(ctx context.Context, req openai.ChatCompletionRequest, step int) (openai.ChatCompletionMessage, int, error) {
	s, err := l.client.CreateChatCompletionStream(ctx, req)
	if err != nil {
		return openai.ChatCompletionMessage{}, 0, err
	}
	defer s.Close()
	var content strings.Builder
	var calls []openai.ToolCall
	var tokens, chunks int
	for {
		chunk, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return openai.ChatCompletionMessage{}, tokens, err
		}
		chunks++
		if chunk.Usage != nil {
			tokens = chunk.Usage.TotalTokens
		}
		if len(chunk.Choices) == 0 {
			continue
		}
		d := chunk.Choices[0].Delta
		content.WriteString(d.Content)
		for _, tc := range d.ToolCalls {
			calls = mergeToolCall(calls, tc)
		}
	}
	l.progress("step %d: streamed %d chunks", step, chunks)
	return openai.ChatCompletionMessage{Role: openai.ChatMessageRoleAssistant, Content: content.String(), ToolCalls: calls}, tokens, nil
}

// mergeToolCall folds a streamed tool-call delta into calls: deltas of one
// call share its Index; the first carries the ID and name, later ones
// pieces of the arguments.
func mergeToolCall(calls []openai.ToolCall, d openai.ToolCall) []openai.ToolCall {
	i := len(calls)
	if d.Index != nil {
		i = *d.Index
	} else if d.ID == "" && len(calls) > 0 {
		i = len(calls) - 1
	}
	for len(calls) <= i {
		calls = append(calls, openai.ToolCall{Type: openai.ToolTypeFunction})
	}
	c := &calls[i]
	if d.ID != "" {
		c.ID = d.ID
	}
	if d.Function.Name != "" {
		c.Function.Name = d.Function.Name
	}
	c.Function.Arguments += d.Function.Arguments
	return calls
}
