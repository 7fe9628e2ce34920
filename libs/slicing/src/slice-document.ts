import type { RecordSlice, SliceFailureReport } from './slicer';

/** What the slice store holds per record: the slice, or its classified failure, under the slice id. */
export type SliceDocument = ({ status: 'sliced' } & RecordSlice) | ({ status: 'failed'; id: string; hops: number } & SliceFailureReport);
