"""Tests of the publish queue, cleared copies and the publishers."""
