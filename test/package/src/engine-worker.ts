import { exposeEngine } from 'was-edge/worker';
exposeEngine({ schedulesUrl: '../node_modules/was-edge/schedules/' });
