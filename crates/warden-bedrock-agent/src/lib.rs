//! Bedrock proxy mode: an agent hosted on Bedrock Agents, driven through InvokeAgent.
