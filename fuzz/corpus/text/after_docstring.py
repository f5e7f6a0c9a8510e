"""A docstring with import os and
"""
import os
os.system("id")
