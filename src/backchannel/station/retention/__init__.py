"""Retention by agreement: policies, holds, destruction at both stations, receipts."""
