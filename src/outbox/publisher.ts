// The publisher contract lives with the brokers that implement it (src/brokers/publisher.ts).
export { PublishError, type OutboundMessage, type Publisher } from '../brokers/publisher.ts';
