"""Synthetic CRM export used as the workbench's demo dataset and as benchmark input.

``sample_data.generate`` builds the six canonical tables (opportunities, stage_history,
activities, reps, quotas, leads) from a seed; the committed CSVs beside this file are its output
for the default seed, and ``dirty/`` holds a copy with injected data-quality problems.
"""
