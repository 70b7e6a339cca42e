"""A/B analysis: conversion attribution, experiment counts, statistics, reports.

``results.experiment_results`` is the entry point for reports;
``attribution.conversions_attribute`` is what the journey engine calls on each
routed batch. Nothing is imported here, so the engine's import of attribution
does not pull in numpy and scipy.
"""
