"""The web console: server-rendered pages, the playground, and the small plain JS
modules that make them live (no front-end build step). See docs/console.md."""

from openline.console.routes import install

__all__ = ["install"]
