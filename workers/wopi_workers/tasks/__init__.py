"""Task modules; each registers its tasks under the names in wopi_core.events."""
