"""One module per Lambda function: parse the event, run one use case, map the result or error."""
