// A one-shot timer for the heartbeat. Chrome may fire the timers of a page
// hidden for over 5 minutes only once a minute; a worker's timers are not
// throttled that way, so a tab in the background keeps its place.
let timer = 0;
onmessage = (event) => {
  clearTimeout(timer);
  if (event.data > 0) timer = setTimeout(() => postMessage(0), event.data);
};
