"""Adapters: the ports of `payments.service.ports` implemented over DynamoDB, Lambda and HTTP."""
