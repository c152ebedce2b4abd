//! LLM clients (Bedrock Converse through the AWS SDK, OpenAI-compatible chat completions) with tool use, and the verdict judge built on them.
