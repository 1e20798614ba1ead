"""The pure domain core: money, payment intents and their transitions, fraud rules, errors.

Plain Python only: no boto3, no environment reads, no Lambda event shapes.
"""
