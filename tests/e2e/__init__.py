"""The browser suite (make e2e): Chromium, driven by Playwright, through the pages a reader and
the owner use, against the real services of the test stack and a real worker."""
