// Package agent runs investigations: an LLM loop over any OpenAI-compatible
// chat-completions API (OpenAI, Ollama, vLLM, llama.cpp's server) whose
// tool calls are dispatched in-process to debugai's read-only tools, and a
// deterministic investigator that needs no model. Both submit hypotheses
// to the same verifier (agent/verify); a hypothesis that never passes ends
// as unconfirmed, never as a root cause. The model only ever sees tool
// outputs: stored, tokenized, payload-free evidence.
package agent
