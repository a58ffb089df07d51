import { mount } from 'svelte';
import App from './App.svelte';
import { describeError, notify } from './lib/toasts.js';
import './app.css';

// Errors outside Svelte's boundaries (event handlers, promises) become messages, never a blank page.
window.addEventListener('error', (event) => notify(`Error: ${event.message}`, 'error'));
window.addEventListener('unhandledrejection', (event) => notify(`Error: ${describeError(event.reason)}`, 'error'));

const target = document.getElementById('app');
if (!target) throw new Error('#app is missing from index.html');
target.replaceChildren();
export default mount(App, { target });
