// Package browser holds the web console's end-to-end tests in a real
// browser: headless Chromium, driven over the DevTools protocol
// (chromedp), against billsync running between the sandbox's emulators.
// The tests log in, watch a billing change reach the sync log, resolve a
// conflict, retry a dead letter, change a setting and run a dry-run
// resync through the pages, and check every page for horizontal overflow
// at desktop and phone widths and for the basics of accessibility
// (labels, names, alt text, lang and title). BILLSYNC_UPDATE_SCREENSHOT=1
// also writes docs/console.png.
//
// It has no code outside its tests. They skip where Chromium is not
// installed, and fail instead under BILLSYNC_CI=1.
package browser
