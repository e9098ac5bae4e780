"""Task modules. Each registers its tasks under the names in wopi_core.events."""
