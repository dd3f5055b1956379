import t from 'tap'
import { overEveryTransport, multipartTrains } from './fabric-suite.ts'

overEveryTransport(t, 'fabric - multipart trains', multipartTrains)
