"""A serverless payments stack for AWS: domain, use cases, adapters, Lambda functions, local runtime."""
